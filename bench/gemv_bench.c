/* gemv_bench.c — generation's matvec alone: one activation row against ROWS weight rows of
 * n elements (random floats quantized to each type; 32000 x 2048, TinyLlama's output
 * projection, by default: far larger than the caches), as one sequential stream of vec_dot
 * calls (the code before dot4) against matmul.c's dot4 walk (the rows' 4 quarters as 4
 * streams, kern_tiles.dot4) where the CPU's kernel set has one. The two run interleaved,
 * r times each after a warm-up; prints one JSON line per type with the best wall GB/s
 * (weight bytes / seconds) and GB/s per CPU-second of each, and whether the outputs are
 * bit-identical (they must be: dot4 does each row's vec_dot arithmetic).
 *
 * -chunk sets the rows per claimed chunk (the 4 streams are its quarters; matmul.c takes
 * about total / (8 x threads): 256-4000 rows on TinyLlama at 1 thread).
 *
 *   gemv_bench [-rows 32000] [-n 2048] [-chunk rows/8+1] [-r 10] [-types f16,q8_0,q4_0,q4_k,q6_k]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "llm/kernels/kernels.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* rows [0, rows) in chunks of `chunk` rows, as mm_part claims them */
static void sweep(const struct kern_type *k, kern_dot4_fn d4, int64_t n, const unsigned char *w, size_t rb,
                  int64_t rows, int64_t chunk, const void *a, float *y)
{
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows, r = r0;
        if (d4) {
            int64_t q = (r1 - r0) / 4;
            for (int64_t i = 0; i < q; i++)
                d4(n, w + (size_t)(r0 + i) * rb, (size_t)q * rb, a, y + r0 + i, (size_t)q);
            r += 4 * q;
        }
        for (; r < r1; r++)
            k->vec_dot(n, &y[r], w + (size_t)r * rb, a);
    }
}

int main(int argc, char **argv)
{
    int64_t rows = 32000, n = 2048, chunk = 0;
    int reps = 10;
    const char *types = "f16,q8_0,q4_0,q4_k,q6_k";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-rows"))
            rows = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-n"))
            n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-chunk"))
            chunk = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-types"))
            types = argv[i + 1];
        else {
            fprintf(stderr, "usage: gemv_bench [-rows 32000] [-n 2048] [-chunk rows/8+1] [-r 10] [-types ...]\n");
            return 2;
        }
    }
    if (rows < 4 || n < 256 || n % 256 || reps < 1 || chunk < 0) {
        fprintf(stderr, "gemv_bench: -rows must be >= 4, -n a multiple of 256, -r >= 1, -chunk >= 0\n");
        return 2;
    }
    if (!chunk)
        chunk = rows / 8 + 1; /* mm_part's chunks at 1 thread */
    static const struct {
        const char *name;
        enum ggml_type t;
    } all[] = {{"f16", GGML_TYPE_F16}, {"q8_0", GGML_TYPE_Q8_0}, {"q4_0", GGML_TYPE_Q4_0},
               {"q4_k", GGML_TYPE_Q4_K}, {"q6_k", GGML_TYPE_Q6_K}};
    struct rng rg;
    rng_seed(&rg, 11);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (size_t ti = 0; ti < sizeof all / sizeof all[0]; ti++) {
        if (!strstr(types, all[ti].name))
            continue;
        const struct kern_type *k = kern_get(all[ti].t);
        kern_dot4_fn d4 = kern_get_tiles(all[ti].t)->dot4;
        size_t rb = ggml_row_size(all[ti].t, n);
        unsigned char *w = malloc(rb * (size_t)rows), *a = malloc(ggml_row_size(k->vec_dot_type, n));
        float *y1 = malloc(sizeof(float) * (size_t)rows), *y4 = malloc(sizeof(float) * (size_t)rows);
        if (!w || !a || !y1 || !y4) {
            fprintf(stderr, "gemv_bench: out of memory\n");
            return 1;
        }
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < n; i++)
                x[i] = (float)(rng_next(&rg) % 2001) / 1000.f - 1.f;
            kern_quantize_row(all[ti].t, x, w + (size_t)r * rb, n);
        }
        kern_get(k->vec_dot_type)->quantize_row(x, a, n);
        double best[2] = {1e30, 1e30}, cpu[2] = {0, 0};
        for (int it = -1; it < reps; it++)
            for (int v = 0; v < 2; v++) {
                double w0 = wall_now(), c0 = cpu_now();
                sweep(k, v ? d4 : NULL, n, w, rb, rows, chunk, a, v ? y4 : y1);
                double dw = wall_now() - w0, dc = cpu_now() - c0;
                if (it < 0)
                    continue;
                best[v] = dw < best[v] ? dw : best[v];
                cpu[v] += dc;
            }
        double gb = (double)rb * (double)rows / 1e9;
        printf("{\"type\":\"%s\",\"isa\":\"%s\",\"rows\":%lld,\"n\":%lld,\"chunk\":%lld,\"dot4\":%s,\"one_stream_gbs\":%.2f,"
               "\"one_stream_gbs_cpu\":%.2f,\"dot4_gbs\":%.2f,\"dot4_gbs_cpu\":%.2f,\"identical\":%s}\n",
               all[ti].name, kern_isa_name(), (long long)rows, (long long)n, (long long)chunk, d4 ? "true" : "false", gb / best[0],
               gb * reps / cpu[0], gb / best[1], gb * reps / cpu[1],
               memcmp(y1, y4, sizeof(float) * (size_t)rows) ? "false" : "true");
        free(w);
        free(a);
        free(y1);
        free(y4);
    }
    free(x);
    return 0;
}
