/* fuzz_tokenizer_load.c — libFuzzer target for building a tokenizer from hostile GGUF
 * metadata: gguf_open_buffer, tokenizer_from_gguf, then encode a fixed mixed text (with and
 * without special parsing), check every id is in range, and render every id back. Seeds:
 * tiny SPM (with Phi-3 strip rules), BPE (qwen2 pre-tokenizer) and BERT vocabularies. */
#include "llm/gguf.h"
#include "llm/tokenizer/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char text[] = "<s>Hello <|im_start|>user\n the  in ab\xc3\xa9 \xf0\x9f\xa6\x99 fuhrer!, 123\xff";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf_file *g = NULL;
    struct tokenizer *t = NULL;
    /* A private copy, freed right after loading: any pointer the tokenizer kept into the
     * file would be a use-after-free under ASan. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    int rc = gguf_open_buffer(copy, size, &g, NULL);
    if (rc == 0)
        rc = tokenizer_from_gguf(g, &t, NULL);
    gguf_close(g);
    free(copy);
    if (rc < 0)
        return 0;
    int32_t nv = tokenizer_n_vocab(t);
    for (int ps = 0; ps < 2; ps++) {
        int32_t ids[512];
        int n = tokenizer_encode(t, text, sizeof text - 1, 1, ps, ids, 512);
        if (n < 0 || n > 512)
            abort();
        char buf[4096];
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= nv)
                abort();
            if (tokenizer_token_to_piece(t, ids[i], buf, sizeof buf) < 0)
                abort();
        }
        if (tokenizer_detokenize(t, ids, n, ps, buf, sizeof buf) < 0)
            abort();
    }
    size_t len;
    for (int32_t id = -1; id <= 3; id++)
        (void)tokenizer_token_text(t, id, &len);
    (void)tokenizer_is_eog(t, tokenizer_eos(t));
    (void)tokenizer_find_token(t, "<|im_start|>");
    tokenizer_free(t);
    return 0;
}
