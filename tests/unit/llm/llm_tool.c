/* llm_tool.c — helper program for the LLM engine's benchmark and fuzz corpus (built with the
 * tests, not installed):
 *   llm_tool random OUT.gguf [--preset tiny|tinyllama] [--type F32|F16|Q8_0|Q4_0|...] [--layers N]
 *   llm_tool seeds DIR                       small GGUF seeds for tests/fuzz/corpus/gguf
 *   llm_tool seeds-arch DIR                  tiny per-architecture models for corpus/llm_load
 *   llm_tool bench MODEL.gguf [-t N] [-p 512] [-n 128] [-r 3] [-d 0] [-kv f16|f32|q8_0]
 *   llm_tool recache FILE                    FILE's page cache re-read in 2 MiB folios
 * bench measures like llama-bench: pp = one decode of p random tokens, tg = n single-token
 * decodes, both after d tokens already in the cache (llama-bench -d: filled untimed before
 * each phase; 0 = from an empty cache), with a KV cache of type kv; each repeated r times
 * after a warm-up (pp, then one tg token, as llama-bench does); prints one JSON line: mean and best tokens/s of the repetitions, the
 * CPU seconds per repetition of each phase, the kernels' ISA, the weight bytes a token
 * streams and the share of generation-step pool jobs that ran on one thread
 * (gen_one_thread_jobs: gen_par.c's choice on a shared machine).
 * recache drops FILE's clean, unmapped page cache (POSIX_FADV_DONTNEED: other processes that
 * have it mapped keep their pages) and reads it back through a MADV_HUGEPAGE mapping, so the
 * cache holds it in 2 MiB folios that every process mapping the file then maps whole (see
 * gguf_open: generation streams the weights through the TLB). Which folios a file's cache
 * holds depends on who read it first and how, so a benchmark (bench/llm_vs_llamacpp
 * --recache) sets it first, for both sides alike. Prints the share of the file mapped by
 * 2 MiB pages afterwards (FilePmdMapped of /proc/self/smaps_rollup; 0 where the file system
 * or kernel has no large folios). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/cpu.h"
#include "base/json_write.h"
#include "base/rng.h"
#include "inferd/llm.h"
#include "llm/gguf.h"
#include "llm/kernels/kernels.h"
#include "llm/llm_int.h"
#include "support/model_random.h"

/* s escaped for a JSON string (without quotes), malloc'ed; NULL when out of memory */
static char *json_esc(const char *s)
{
    size_t n = strlen(s), cap = 6 * n + 1; /* \u00XX at most per input byte */
    char *e = malloc(cap);
    if (e)
        json_write_escape(e, cap, s, n, NULL);
    return e;
}

static int type_from_name(const char *s, enum ggml_type *t)
{
    for (int i = 0; i < GGML_TYPE_COUNT; i++) {
        if (ggml_type_block_elems((enum ggml_type)i) && strcmp(ggml_type_name((enum ggml_type)i), s) == 0) {
            *t = (enum ggml_type)i;
            return 0;
        }
    }
    return -1;
}

static int cmd_random(int argc, char **argv)
{
    const char *out = NULL, *preset = "tiny";
    enum ggml_type type = GGML_TYPE_F32;
    int layers = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--preset") && i + 1 < argc)
            preset = argv[++i];
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc)
            layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            if (type_from_name(argv[++i], &type) < 0) {
                fprintf(stderr, "unknown type %s\n", argv[i]);
                return 2;
            }
        } else
            out = argv[i];
    }
    if (!out)
        return 2;
    struct llm_random_spec s;
    if (!strcmp(preset, "tinyllama")) {
        s = llm_random_spec_tinyllama(type);
    } else {
        s = llm_random_spec_tiny();
        s.type = s.embd_type = type;
    }
    if (layers > 0)
        s.n_layer = layers;
    struct inferd_err err = {0};
    uint64_t t0 = clock_now_ns();
    if (llm_random_model_write(out, &s, &err) < 0) {
        fprintf(stderr, "llm_tool random: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "wrote %s (%s, %s) in %.1f s\n", out, preset, ggml_type_name(type), (clock_now_ns() - t0) / 1e9);
    return 0;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static int cmd_seeds(const char *dir)
{
    char path[1024];
    struct inferd_err err = {0};
    /* 1: a tiny model in Q8_0 (no vocab): every kind of tensor info */
    struct llm_random_spec s = {.arch = "llama", .n_vocab = 8, .n_embd = 32, .n_layer = 1, .n_head = 2,
                                .n_head_kv = 1, .n_ff = 32, .n_ctx = 64, .type = GGML_TYPE_Q8_0,
                                .embd_type = GGML_TYPE_Q4_0, .seed = 3, .rope_linear_factor = 2};
    snprintf(path, sizeof path, "%s/model_q8_0.gguf", dir);
    if (llm_random_model_write(path, &s, &err) < 0)
        goto fail;
    /* 1b: the same shape in IQ4_NL; 1c: one 256-wide layer in Q2_K/Q3_K/IQ4_XS tensors */
    s.type = GGML_TYPE_IQ4_NL;
    snprintf(path, sizeof path, "%s/model_iq4_nl.gguf", dir);
    if (llm_random_model_write(path, &s, &err) < 0)
        goto fail;
    {
        struct gguf_writer *wk = gguf_writer_new();
        static float x[256 * 2];
        const enum ggml_type kt[] = {GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_IQ4_XS};
        const char *kn[] = {"q2k", "q3k", "iq4xs"};
        int64_t ne2[2] = {256, 2};
        for (int i = 0; i < 512; i++)
            x[i] = (float)((i * 37) % 101 - 50) / 50.f;
        static unsigned char bufs[3][2 * 292];
        for (int k = 0; k < 3 && wk; k++) {
            for (int r = 0; r < 2; r++)
                kern_quantize_row(kt[k], x + 256 * r, bufs[k] + ggml_row_size(kt[k], 256) * (size_t)r, 256);
            gguf_writer_add_tensor(wk, kn[k], kt[k], 2, ne2, bufs[k]);
        }
        snprintf(path, sizeof path, "%s/kquants_small.gguf", dir);
        int rk = wk ? gguf_writer_write(wk, path, &err) : INFERD_ENOMEM;
        gguf_writer_free(wk);
        if (rk < 0)
            goto fail;
    }
    /* 2: metadata of every value type, arrays included */
    struct gguf_writer *w = gguf_writer_new();
    const char *strs[3] = {"<s>", "", "\xe2\x96\x81hello"};
    int32_t iv[3] = {1, -2, 3};
    float fv[2] = {0.5f, -1.f};
    float t[32] = {1.f};
    int64_t ne[1] = {32};
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "general.alignment", 32);
    gguf_writer_set_i32(w, "i", -5);
    gguf_writer_set_f32(w, "f", 1.25f);
    gguf_writer_set_bool(w, "b", 1);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, 3);
    gguf_writer_set_arr_i32(w, "ai", iv, 3);
    gguf_writer_set_arr_f32(w, "af", fv, 2);
    gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, ne, t);
    gguf_writer_add_tensor(w, "h", GGML_TYPE_F16, 1, ne, t);
    snprintf(path, sizeof path, "%s/kv_all_types.gguf", dir);
    int rc = gguf_writer_write(w, path, &err);
    gguf_writer_free(w);
    if (rc < 0)
        goto fail;
    /* 3..: truncated and mutated copies of the model */
    size_t n;
    snprintf(path, sizeof path, "%s/model_q8_0.gguf", dir);
    unsigned char *b = read_all(path, &n);
    if (!b)
        goto fail;
    write_file(dir, "trunc_header.gguf", b, 20);
    write_file(dir, "trunc_kv.gguf", b, 200);
    write_file(dir, "trunc_data.gguf", b, n / 2);
    b[24] ^= 0x40; /* first key's length */
    write_file(dir, "mut_keylen.gguf", b, n);
    b[24] ^= 0x40;
    b[8] = 0xff; /* tensor count */
    write_file(dir, "mut_ntensors.gguf", b, n);
    free(b);
    return 0;
fail:
    fprintf(stderr, "llm_tool seeds: %s\n", err.msg);
    return 1;
}

/* Seeds for tests/fuzz/corpus/llm_load: one tiny Q8_0 model per architecture variant, and
 * copies of the phi3 one with a byte of its metadata or tensor infos flipped. */
static int cmd_seeds_arch(const char *dir)
{
    static const struct {
        const char *file, *arch;
        int n_expert, n_swa, yarn;
    } v[] = {{"llama.gguf", "llama", 0, 0, 0}, {"llama_yarn.gguf", "llama", 0, 0, 64},
             {"moe.gguf", "llama", 4, 0, 0},    {"phi3.gguf", "phi3", 0, 4, 0},
             {"gemma2.gguf", "gemma2", 0, 4, 0}, {"qwen2.gguf", "qwen2", 0, 0, 0}};
    char path[1024];
    struct inferd_err err = {0};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct llm_random_spec s = {.arch = v[i].arch, .n_vocab = 8, .n_embd = 32, .n_layer = 2, .n_head = 2,
                                    .n_head_kv = 1, .n_ff = 32, .n_ctx = 64, .type = GGML_TYPE_Q8_0,
                                    .embd_type = GGML_TYPE_Q8_0, .seed = 5, .n_expert = v[i].n_expert,
                                    .n_expert_used = v[i].n_expert ? 2 : 0, .n_swa = v[i].n_swa,
                                    .rope_linear_factor = v[i].yarn ? 4.f : 0.f, .rope_yarn_orig_ctx = v[i].yarn};
        snprintf(path, sizeof path, "%s/%s", dir, v[i].file);
        if (llm_random_model_write(path, &s, &err) < 0) {
            fprintf(stderr, "llm_tool seeds-arch: %s\n", err.msg);
            return 1;
        }
    }
    size_t n;
    snprintf(path, sizeof path, "%s/phi3.gguf", dir);
    unsigned char *b = read_all(path, &n);
    if (!b)
        return 1;
    for (size_t at = 200; at < n && at < 1400; at += 300) {
        char name[64];
        b[at] ^= 0x5a;
        snprintf(name, sizeof name, "phi3_mut%zu.gguf", at);
        write_file(dir, name, b, n);
        b[at] ^= 0x5a;
    }
    free(b);
    return 0;
}

/* Bytes of weights one generated token streams: every tensor but the token embedding (of
 * which a decode reads one row); 0 when the file cannot be read. */
static uint64_t streamed_bytes(const char *path)
{
    struct gguf_file *g = NULL;
    struct inferd_err err = {0};
    uint64_t sum = 0;
    if (gguf_open(path, &g, &err) < 0)
        return 0;
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor_info *t = gguf_tensor_at(g, i);
        if (!(t->name.len == 17 && !memcmp(t->name.ptr, "token_embd.weight", 17)))
            sum += t->nbytes;
    }
    gguf_close(g);
    return sum;
}

/* CPU seconds this process has used (all threads): the per-phase CPU cost, which a loaded
 * machine inflates far less than wall time. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Leaves sequence 0 holding its first depth tokens: truncated back when it already has them
 * (the cached positions are the same tokens), else decoded in batches of up to n_batch. */
static int fill_depth(struct inferd_llm_ctx *c, int depth, int n_batch, int32_t *toks, int32_t *pos, int32_t *seq,
                      struct inferd_err *err)
{
    if (depth > 0 && inferd_llm_seq_len(c, 0) >= depth) {
        inferd_llm_seq_truncate(c, 0, depth);
        return 0;
    }
    inferd_llm_seq_clear(c, 0);
    for (int i = 0; i < depth; i += n_batch) {
        int n = depth - i < n_batch ? depth - i : n_batch;
        struct inferd_llm_batch b = {.n = n, .tokens = toks + i, .pos = pos + i, .seq = seq};
        if (inferd_llm_decode(c, &b, err) < 0)
            return -1;
    }
    return 0;
}

static int cmd_bench(int argc, char **argv)
{
    const char *model = NULL;
    int threads = 0, n_pp = 512, n_tg = 128, reps = 3, depth = 0, kv_type = INFERD_LLM_KV_F16;
    const char *kv_name = "f16";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            n_pp = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n_tg = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-d") && i + 1 < argc)
            depth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-kv") && i + 1 < argc)
            kv_name = argv[++i];
        else
            model = argv[i];
    }
    if (!strcmp(kv_name, "q8_0"))
        kv_type = INFERD_LLM_KV_Q8_0;
    else if (!strcmp(kv_name, "f32"))
        kv_type = INFERD_LLM_KV_F32;
    else if (strcmp(kv_name, "f16"))
        return 2;
    if (!model || n_pp < 0 || n_tg < 1 || reps < 1 || n_pp > 4096 || n_tg > 4096 || depth < 0 || depth > 65536)
        return 2;
    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    struct inferd_llm_ctx *c = NULL;
    if (inferd_llm_load(model, &(struct inferd_llm_load_params){.n_threads = threads}, &m, &err) < 0 ||
        inferd_llm_ctx_new(m,
                           &(struct inferd_llm_ctx_params){.n_ctx = depth + (n_pp > n_tg ? n_pp : n_tg),
                                                           .n_batch = n_pp > 0 ? n_pp : 512, .kv_type = kv_type},
                           &c, &err) < 0) {
        fprintf(stderr, "llm_tool bench: %s\n", err.msg);
        inferd_llm_free(m);
        return 1;
    }
    int nv = inferd_llm_info(m)->n_vocab;
    int n_max = depth + (n_pp > n_tg ? n_pp : n_tg);
    int32_t *toks = malloc(sizeof(int32_t) * n_max), *pos = malloc(sizeof(int32_t) * n_max),
            *seq = calloc((size_t)n_max, sizeof(int32_t));
    struct rng r;
    rng_seed(&r, 12345);
    for (int i = 0; i < n_max; i++) {
        toks[i] = (int32_t)(rng_next(&r) % (uint64_t)nv);
        pos[i] = i;
    }
    double pp_s = 0, tg_s = 0, pp_best = 0, tg_best = 0, pp_cpu = 0, tg_cpu = 0;
    for (int rep = -1; rep < reps; rep++) { /* rep -1 is the warm-up */
        struct inferd_llm_batch b;
        const int n_fill = n_pp > 0 ? n_pp : 512;
        if (fill_depth(c, depth, n_fill, toks, pos, seq, &err) < 0)
            goto fail;
        b = (struct inferd_llm_batch){.n = n_pp, .tokens = toks + depth, .pos = pos + depth, .seq = seq};
        uint64_t t0 = clock_now_ns();
        double c0 = cpu_seconds();
        if (n_pp > 0 && inferd_llm_decode(c, &b, &err) < 0) /* -p 0: generation only */
            goto fail;
        uint64_t t1 = clock_now_ns();
        double c1 = cpu_seconds();
        pp_s += rep >= 0 ? (t1 - t0) / 1e9 : 0;
        pp_cpu += rep >= 0 ? c1 - c0 : 0;
        if (rep >= 0 && n_pp / ((t1 - t0) / 1e9) > pp_best)
            pp_best = n_pp / ((t1 - t0) / 1e9);
        if (fill_depth(c, depth, n_fill, toks, pos, seq, &err) < 0)
            goto fail;
        c1 = cpu_seconds();
        t1 = clock_now_ns();
        for (int i = depth; i < depth + (rep < 0 ? 1 : n_tg); i++) { /* warm-up: one token, like llama-bench */
            b = (struct inferd_llm_batch){.n = 1, .tokens = &toks[i], .pos = &pos[i], .seq = seq};
            if (inferd_llm_decode(c, &b, &err) < 0)
                goto fail;
        }
        uint64_t t2 = clock_now_ns();
        double c2 = cpu_seconds();
        if (rep >= 0) {
            tg_s += (t2 - t1) / 1e9;
            tg_cpu += c2 - c1;
            if (n_tg / ((t2 - t1) / 1e9) > tg_best)
                tg_best = n_tg / ((t2 - t1) / 1e9);
        }
    }
    char *esc = json_esc(model);
    printf("{\"model\":\"%s\",\"type\":\"%s\",\"threads\":%d,\"pp\":%d,\"tg\":%d,\"pp_tps\":%.3f,\"tg_tps\":%.3f,"
           "\"pp_tps_best\":%.3f,\"tg_tps_best\":%.3f,\"pp_cpu_s\":%.3f,\"tg_cpu_s\":%.3f,\"depth\":%d,\"kv\":\"%s\",\"attention\":\"%s\",\"isa\":\"%s\",\"cpu\":\"%s\",\"streamed_bytes\":%llu,"
           "\"gen_one_thread_jobs\":%.3f}\n",
           esc ? esc : "", inferd_llm_info(m)->file_type, threads, n_pp, n_tg, pp_s > 0 ? n_pp * reps / pp_s : 0, n_tg * reps / tg_s,
           pp_best, tg_best, pp_cpu / reps, tg_cpu / reps, depth, kv_name,
           getenv("INFERD_ATTN") && !strcmp(getenv("INFERD_ATTN"), "twopass") ? "twopass" : "blocked", kern_isa_name(), cpu_features_str(), (unsigned long long)streamed_bytes(model),
           c->par.n_jobs ? (double)c->par.n_one_jobs / (double)c->par.n_jobs : 0.0);
    free(esc);
    free(toks);
    free(pos);
    free(seq);
    inferd_llm_ctx_free(c);
    inferd_llm_free(m);
    return 0;
fail:
    fprintf(stderr, "llm_tool bench: %s\n", err.msg);
    free(toks);
    free(pos);
    free(seq);
    inferd_llm_ctx_free(c);
    inferd_llm_free(m);
    return 1;
}

static int cmd_recache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0) {
        fprintf(stderr, "llm_tool recache: %s: cannot open or empty\n", path);
        if (fd >= 0)
            close(fd);
        return 1;
    }
    size_t size = (size_t)st.st_size;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    const volatile unsigned char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        fprintf(stderr, "llm_tool recache: %s: mmap failed\n", path);
        return 1;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)(uintptr_t)m, size, MADV_HUGEPAGE);
#endif
    for (size_t i = 0; i < size; i += 4096)
        (void)m[i]; /* volatile: each page is read */
    long long pmd_kb = -1;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "FilePmdMapped: %lld kB", &pmd_kb) == 1)
            break;
    if (f)
        fclose(f);
    munmap((void *)(uintptr_t)m, size);
    char *esc = json_esc(path);
    printf("{\"file\":\"%s\",\"bytes\":%zu,\"pmd_mapped_share\":%.3f}\n", esc ? esc : "", size,
           pmd_kb < 0 ? 0.0 : (double)pmd_kb * 1024 / (double)size);
    free(esc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "random"))
        return cmd_random(argc - 2, argv + 2);
    if (argc == 3 && !strcmp(argv[1], "seeds"))
        return cmd_seeds(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "seeds-arch"))
        return cmd_seeds_arch(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "bench"))
        return cmd_bench(argc - 2, argv + 2);
    if (argc == 3 && !strcmp(argv[1], "recache"))
        return cmd_recache(argv[2]);
    fprintf(stderr, "usage: llm_tool random OUT.gguf [--preset tiny|tinyllama] [--type T]\n"
                    "       llm_tool seeds DIR\n"
                    "       llm_tool seeds-arch DIR\n"
                    "       llm_tool bench MODEL.gguf [-t N] [-p 512] [-n 128] [-r 3]\n"
                    "       llm_tool recache FILE\n");
    return 2;
}
