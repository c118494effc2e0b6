/* fuzz_pack_keys.c — libFuzzer driver for the package signing files (src/pack/sign.h):
 * the first byte picks the parser (0: trust file, 1: secret key file, 2: manifest.sig),
 * the rest is the file's bytes. */
#include "pack/sign.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inferd_err err = {0};
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: {
        struct pack_keyring kr;
        if (pack_keyring_parse(text, len, "trust", &kr, &err) == 0 && (kr.n < 1 || kr.n > PACK_KEYRING_MAX))
            __builtin_trap();
        break;
    }
    case 1: {
        struct pack_secret_key sk;
        if (pack_secret_key_parse(text, len, "key", &sk, &err) == 0 && strlen(sk.id) != 16)
            __builtin_trap();
        break;
    }
    default: {
        struct pack_sig sig;
        if (pack_sig_parse(text, len, "manifest.sig", &sig, &err) == 0 && strlen(sig.id) != 16)
            __builtin_trap();
        break;
    }
    }
    return 0;
}
