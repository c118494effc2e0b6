/* attn_bench.c — times one layer's attention alone (llm_attention), blocked (attention.c)
 * against the two-pass reference (attention_ref.c, the code before it), on a context of a
 * TinyLlama-shaped model (32 query heads, 4 KV heads, head size 64) whose KV cache is filled
 * with random rows: generation = one query at position d, prompt processing = p queries at
 * positions d..d+p-1 in one batch. Prints one JSON line per (cache type, phase, attention)
 * with the CPU seconds and the wall seconds per call (best of r after a warm-up).
 *
 *   attn_bench [-t threads] [-d 2048] [-p 1024] [-r 5] [-kv f16|q8_0|f32|all]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/rng.h"
#include "inferd/llm.h"
#include "llm/llm_int.h"
#include "support/model_random.h"

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(struct inferd_llm_model *m, int kv_type, const char *kv_name, int depth, int n_pp, int reps)
{
    const struct llm_hparams *hp = &m->hp;
    const int n_ctx = depth + n_pp + 1, q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    struct rng r;
    rng_seed(&r, 7);
    float *row = malloc(sizeof(float) * kv_dim);
    int32_t *pos = malloc(sizeof(int32_t) * (n_pp + 1)), *seq = calloc((size_t)n_pp + 1, sizeof(int32_t));
    for (int twopass = 1; twopass >= 0; twopass--) {
        struct inferd_llm_ctx *c = NULL;
        struct inferd_err err = {0};
        if (twopass)
            setenv("INFERD_ATTN", "twopass", 1);
        int rc = inferd_llm_ctx_new(
            m, &(struct inferd_llm_ctx_params){.n_ctx = n_ctx, .n_batch = n_pp, .kv_type = kv_type}, &c, &err);
        unsetenv("INFERD_ATTN");
        if (rc < 0) {
            fprintf(stderr, "attn_bench: %s\n", err.msg);
            break;
        }
        kv_grow(&c->kv, 0, n_ctx);
        for (int p = 0; p < n_ctx; p++) { /* random rows, stored through the cache's quantizer */
            for (int i = 0; i < kv_dim; i++)
                row[i] = (float)(rng_next(&r) % 2001) / 1000.f - 1.f;
            c->kv.ops->store(row, kv_k(&c->kv, 0, kv_cell(&c->kv, 0, p)), kv_dim);
            c->kv.ops->store(row, kv_v(&c->kv, 0, kv_cell(&c->kv, 0, p)), kv_dim);
        }
        for (size_t i = 0; i < (size_t)n_pp * q_dim; i++)
            c->q[i] = (float)(rng_next(&r) % 2001) / 1000.f - 1.f;
        for (int phase = 0; phase < 2; phase++) {
            int n = phase == 0 ? 1 : n_pp;
            for (int t = 0; t < n; t++)
                pos[t] = depth + t;
            struct inferd_llm_batch b = {.n = n, .pos = pos, .seq = seq};
            double best_cpu = 1e30, best_wall = 1e30;
            for (int rep = -1; rep < reps; rep++) {
                double c0 = cpu_seconds();
                uint64_t t0 = clock_now_ns();
                llm_attention(c, &b, 0);
                double dc = cpu_seconds() - c0, dw = (double)(clock_now_ns() - t0) / 1e9;
                if (rep >= 0) {
                    best_cpu = dc < best_cpu ? dc : best_cpu;
                    best_wall = dw < best_wall ? dw : best_wall;
                }
            }
            printf("{\"kv\":\"%s\",\"phase\":\"%s\",\"depth\":%d,\"queries\":%d,\"attention\":\"%s\",\"threads\":%d,"
                   "\"cpu_ms\":%.3f,\"wall_ms\":%.3f}\n",
                   kv_name, phase == 0 ? "tg" : "pp", depth, n, twopass ? "twopass" : "blocked", c->n_threads,
                   best_cpu * 1e3, best_wall * 1e3);
            fflush(stdout);
        }
        inferd_llm_ctx_free(c);
    }
    free(row);
    free(pos);
    free(seq);
}

int main(int argc, char **argv)
{
    int threads = 0, depth = 2048, n_pp = 1024, reps = 5;
    const char *kv = "all";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-d"))
            depth = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-p"))
            n_pp = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-kv"))
            kv = argv[i + 1];
    }
    if (depth < 0 || n_pp < 1 || reps < 1)
        return 2;
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/attn_bench_%d.gguf", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    struct llm_random_spec s = llm_random_spec_tinyllama(GGML_TYPE_Q8_0);
    s.n_layer = 1;
    s.n_vocab = 512;
    s.n_ctx = depth + n_pp + 1;
    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    if (llm_random_model_write(path, &s, &err) < 0 ||
        inferd_llm_load(path, &(struct inferd_llm_load_params){.n_threads = threads}, &m, &err) < 0) {
        fprintf(stderr, "attn_bench: %s\n", err.msg);
        remove(path);
        return 1;
    }
    remove(path);
    static const struct {
        const char *name;
        int type;
    } kvs[] = {{"f16", INFERD_LLM_KV_F16}, {"q8_0", INFERD_LLM_KV_Q8_0}, {"f32", INFERD_LLM_KV_F32}};
    for (size_t i = 0; i < sizeof kvs / sizeof *kvs; i++)
        if (!strcmp(kv, "all") ? i < 2 : !strcmp(kv, kvs[i].name))
            run(m, kvs[i].type, kvs[i].name, depth, n_pp, reps);
    inferd_llm_free(m);
    return 0;
}
