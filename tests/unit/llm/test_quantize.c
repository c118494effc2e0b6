/* test_quantize.c — the weight quantizers against llama.cpp: byte equality with ggml's
 * reference quantizers (quantize_row_*_ref / quantize_iq4_*, what llama-quantize runs
 * without an importance matrix) on fixed inputs, dequantization equal to ggml's bit for bit,
 * the same on real tensors of ../shared's llama3-style model against the llama3-style-q4_k_m
 * file llama-quantize wrote, and round-trip error bounds.
 *
 * data/quant_ref.bin was written by a throwaway program linked against llama.cpp c392e50's
 * libggml-base (ggml_quantize_chunk, then the type's to_float):
 *   "QREF" | u32 rows | u32 n_per_row | u32 n_types | f32 x[rows * n_per_row]
 *   n_types x { u32 ggml type | u64 nbytes | bytes | u64 FNV-1a of the dequantized f32s }
 * Rows: gaussian 0.02; uniform [-1,1); zeros then 1e-6 noise; a constant block then
 * gaussian around 0.5; gaussian with every 37th value x40; sparse large values among
 * zeros / all-negative values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "base/hash.h"
#include "base/rng.h"
#include "llm/gguf.h"
#include "llm/kernels/kernels.h"

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Quantizes rows x n_per_row floats with type t's reference quantizer, row by row (as
 * llama-quantize does) and compares with want. Returns the number of differing blocks. */
static int compare_rows(enum ggml_type t, const float *x, int rows, int n_per_row, const unsigned char *want)
{
    size_t rs = ggml_row_size(t, n_per_row), bb = ggml_type_block_bytes(t);
    unsigned char *got = malloc(rs * (size_t)rows);
    int bad = 0;
    for (int r = 0; r < rows; r++)
        kern_get_ref(t)->quantize_row(x + (size_t)r * n_per_row, got + rs * (size_t)r, n_per_row);
    for (size_t b = 0; b < rs * (size_t)rows / bb; b++) {
        if (memcmp(got + b * bb, want + b * bb, bb) != 0) {
            if (bad == 0)
                printf("%s: first differing block %zu (row %zu)\n", ggml_type_name(t), b, b * bb / rs);
            bad++;
        }
    }
    free(got);
    return bad;
}

static void test_fixture(void)
{
    char path[4096];
    const char *root = getenv("INFERD_ROOT");
    snprintf(path, sizeof path, "%s/tests/unit/llm/data/quant_ref.bin", root ? root : ".");
    size_t len = 0;
    unsigned char *buf = read_all(path, &len);
    CHECK(buf != NULL && len > 16 && memcmp(buf, "QREF", 4) == 0);
    if (!buf)
        return;
    uint32_t h[3];
    memcpy(h, buf + 4, sizeof h);
    int rows = (int)h[0], npr = (int)h[1], ntypes = (int)h[2];
    size_t off = 16, nel = (size_t)rows * (size_t)npr;
    float *x = malloc(nel * sizeof(float)), *y = malloc(nel * sizeof(float)), *y2 = malloc(nel * sizeof(float));
    memcpy(x, buf + off, nel * sizeof(float));
    off += nel * sizeof(float);
    int seen = 0;
    for (int i = 0; i < ntypes && off + 12 <= len; i++) {
        uint32_t t;
        uint64_t nb, want_hash;
        memcpy(&t, buf + off, 4);
        memcpy(&nb, buf + off + 4, 8);
        off += 12;
        CHECK(off + nb + 8 <= len);
        if (off + nb + 8 > len)
            break;
        const unsigned char *want = buf + off;
        memcpy(&want_hash, buf + off + nb, 8);
        off += nb + 8;
        const struct kern_type *k = kern_get_ref((enum ggml_type)t);
        CHECK(k != NULL && k->quantize_row != NULL);
        if (!k || !k->quantize_row)
            continue;
        CHECK(nb == ggml_row_size((enum ggml_type)t, npr) * (size_t)rows);
        int bad = compare_rows((enum ggml_type)t, x, rows, npr, want);
        CHECK(bad == 0);
        /* dequantizing llama.cpp's bytes gives llama.cpp's floats, bit for bit, in the
         * reference and in the kernel set kern_get picks */
        k->dequant_row(want, y, (int64_t)nel);
        kern_get((enum ggml_type)t)->dequant_row(want, y2, (int64_t)nel);
        CHECK(hash_fnv1a(HASH_FNV1A_SEED, y, nel * sizeof(float)) == want_hash);
        CHECK(memcmp(y, y2, nel * sizeof(float)) == 0);
        printf("%-6s %s, dequant %s\n", ggml_type_name((enum ggml_type)t), bad ? "DIFFERS" : "byte-identical",
               hash_fnv1a(HASH_FNV1A_SEED, y, nel * sizeof(float)) == want_hash ? "identical" : "DIFFERS");
        seen++;
    }
    CHECK(seen == 12);
    free(x);
    free(y);
    free(y2);
    free(buf);
}

/* Relative RMS error of quantize -> dequantize on gaussian rows, against bounds a little
 * above what llama.cpp's quantizers reach on such data (Q2_K ~0.33, Q3_K ~0.17, Q4_K
 * ~0.086, Q5_K ~0.043, Q6_K ~0.021, IQ4_NL/IQ4_XS ~0.075, Q8_0 ~0.004). */
static void test_round_trip(void)
{
    static const struct {
        enum ggml_type t;
        double bound;
    } cases[] = {{GGML_TYPE_Q2_K, 0.40}, {GGML_TYPE_Q3_K, 0.20}, {GGML_TYPE_Q4_K, 0.10},
                 {GGML_TYPE_Q5_K, 0.05}, {GGML_TYPE_Q6_K, 0.025}, {GGML_TYPE_IQ4_NL, 0.09},
                 {GGML_TYPE_IQ4_XS, 0.09}, {GGML_TYPE_Q8_0, 0.006}};
    enum { N = 4096 };
    static float x[N], y[N];
    static unsigned char q[N * 2];
    struct rng r = {{7, 11, 13, 17}};
    for (int i = 0; i < N; i += 2) { /* Box-Muller */
        double u1 = ((double)(rng_next(&r) >> 11) + 0.5) / 9007199254740992.0;
        double u2 = ((double)(rng_next(&r) >> 11) + 0.5) / 9007199254740992.0;
        x[i] = (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
        x[i + 1] = (float)(sqrt(-2 * log(u1)) * sin(6.283185307179586 * u2));
    }
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct kern_type *k = kern_get_ref(cases[c].t);
        k->quantize_row(x, q, N);
        k->dequant_row(q, y, N);
        double se = 0, ss = 0;
        for (int i = 0; i < N; i++) {
            se += (double)(y[i] - x[i]) * (y[i] - x[i]);
            ss += (double)x[i] * x[i];
        }
        double rel = sqrt(se / ss);
        printf("%-6s relative RMSE %.4f (bound %.3f)\n", ggml_type_name(cases[c].t), rel, cases[c].bound);
        CHECK(rel < cases[c].bound);
        /* a row of zeros stays zeros */
        memset(y, 0xff, sizeof y);
        static const float zeros[256];
        k->quantize_row(zeros, q, 256);
        k->dequant_row(q, y, 256);
        int allzero = 1;
        for (int i = 0; i < 256; i++)
            allzero &= y[i] == 0.f;
        CHECK(allzero);
    }
}

/* A tensor of ../shared's llama3-style.gguf (F32) quantized by us equals the same tensor
 * in llama3-style-q4_k_m.gguf, which llama-quantize wrote from an F32 copy of that model. */
static void test_real_tensors(void)
{
    const char *root = getenv("INFERD_SHARED");
    char src[4096], ref[4096];
    struct stat st;
    snprintf(src, sizeof src, "%s/testdata/llm/arch/llama3-style.gguf", root ? root : "../shared");
    snprintf(ref, sizeof ref, "%s/testdata/llm/arch/llama3-style-q4_k_m.gguf", root ? root : "../shared");
    if (stat(src, &st) != 0 || stat(ref, &st) != 0) {
        printf("note: %s absent, real-tensor comparison skipped\n", src);
        return;
    }
    struct gguf_file *gs = NULL, *gr = NULL;
    struct inferd_err err = {0};
    CHECK(gguf_open(src, &gs, &err) == 0);
    CHECK(gguf_open(ref, &gr, &err) == 0);
    const char *names[] = {"blk.0.ffn_down.weight", "blk.1.ffn_down.weight", "blk.0.attn_q.weight",
                           "blk.1.attn_v.weight", "blk.1.ffn_up.weight"};
    for (size_t i = 0; gs && gr && i < sizeof names / sizeof names[0]; i++) {
        const struct gguf_tensor_info *a = gguf_find_tensor(gs, names[i]), *b = gguf_find_tensor(gr, names[i]);
        CHECK(a && b && a->type == GGML_TYPE_F32);
        if (!a || !b || a->type != GGML_TYPE_F32)
            continue;
        int64_t rows = a->ne[1] * a->ne[2] * a->ne[3];
        int bad = compare_rows(b->type, a->data, (int)rows, (int)a->ne[0], b->data);
        printf("%s as %s: %d of %lld blocks differ from llama-quantize's\n", names[i], ggml_type_name(b->type), bad,
               (long long)(b->nbytes / ggml_type_block_bytes(b->type)));
        CHECK(bad == 0);
    }
    gguf_close(gs);
    gguf_close(gr);
}

int main(void)
{
    test_fixture();
    test_round_trip();
    test_real_tensors();
    return check_finish();
}
