/* fuzz_llm_load.c — libFuzzer target for the model loader on hostile GGUF files: the bytes go
 * to a memfd, inferd_llm_load maps and validates them (architecture hooks, hyper-parameters,
 * every tensor's shape and type, fused/stacked tensor views), and a model that loads is run:
 * a 3-token prompt batch and one more token, so shapes the loader accepted must also be safe
 * to compute with. Seeds: tiny llama, phi3, gemma2, MoE and YaRN models and mutated copies
 * (`llm_tool seeds-arch`). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inferd/llm.h"

static volatile float sink;

static void run(struct inferd_llm_model *m)
{
    struct inferd_llm_ctx *c = NULL;
    struct inferd_err err = {0};
    if (inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = 16, .n_batch = 4, .n_seq = 1}, &c, &err) < 0)
        return;
    int nv = inferd_llm_info(m)->n_vocab;
    int32_t toks[3] = {0, 1 % nv, (nv - 1)}, pos[3] = {0, 1, 2}, seq[3] = {0, 0, 0};
    struct inferd_llm_batch b = {.n = 3, .tokens = toks, .pos = pos, .seq = seq};
    if (inferd_llm_decode(c, &b, &err) == 0) {
        const float *lg = inferd_llm_logits(c, 2);
        sink += lg[0] + lg[nv - 1];
        int32_t t = nv / 2, p = 3;
        b = (struct inferd_llm_batch){.n = 1, .tokens = &t, .pos = &p, .seq = seq};
        if (inferd_llm_decode(c, &b, &err) == 0)
            sink += inferd_llm_logits(c, 0)[0];
    }
    inferd_llm_ctx_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_llm_load", 0);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct inferd_llm_model *m = NULL;
    struct inferd_err err = {0};
    if (off == size && inferd_llm_load(path, &(struct inferd_llm_load_params){.n_threads = 1}, &m, &err) == 0) {
        run(m);
        inferd_llm_free(m);
    }
    close(fd);
    return 0;
}
