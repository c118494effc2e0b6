/* fuzz_pack_manifest.c — libFuzzer driver for a package's manifest.json parser
 * (src/pack/manifest.h). Input: the file's bytes. */
#include "pack/manifest.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pack_manifest m;
    struct inferd_err err = {0};
    if (pack_manifest_parse((const char *)data, size, "manifest.json", &m, &err) == 0) {
        /* invariants the checker relies on: safe names, 64 hex digits, a bounded count */
        if (m.n_files < 1 || m.n_files > PACK_FILES_MAX)
            __builtin_trap();
        for (int i = 0; i < m.n_files; i++)
            if (!pack_name_ok(m.files[i].name) || strlen(m.files[i].sha256) != 64 || m.files[i].size < -1)
                __builtin_trap();
        pack_manifest_free(&m);
    }
    return 0;
}
