/* fuzz_pack_llama2c.c — libFuzzer driver for the llama2.c checkpoint header check and the
 * tokenizer.bin reader (src/pack/llama2c.h). Input: the first byte picks which (even:
 * checkpoint, odd: tokenizer for a vocabulary of 1..64 tokens from the byte); the rest is
 * the file's bytes. */
#include "pack/llama2c.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inferd_err err = {0};
    if (size < 1)
        return 0;
    if (data[0] % 2 == 0) {
        struct llama2c_config c;
        if (llama2c_check_header(data + 1, size - 1, &c, &err) == 0 &&
            (c.dim < 1 || c.n_heads < 1 || c.dim % c.n_heads || c.vocab_size < 1))
            __builtin_trap();
    } else {
        llama2c_check_tokenizer(data + 1, size - 1, 1 + data[0] / 4, &err);
    }
    return 0;
}
