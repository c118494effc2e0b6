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
 * -t T sweeps with T threads claiming chunks as mm_part does (default chunk rows / (4 T) + 1,
 * dot4's chunking at 2+ threads). Threads wait for each sweep by spinning, without yielding.
 * On a machine other work keeps busy a T-thread wall time means little (a thread may wait on a
 * run queue the whole sweep), so each line also gives the median GB/s of the "concurrent"
 * sweeps, those in which every thread ran for at least 93% of the wall time (its own CPU
 * clock), and how many there were: the T-thread bandwidth the kernel reaches when it has the
 * cores (say "-r 100" on a loaded machine; 0 when no sweep qualified).
 * -guided D claims guided chunks instead: (rows left) / (D x T) rows each, 4-row multiples of
 * at least -gmin (32) rows (an experiment; matmul.c keeps equal chunks: session 11 found
 * guided ones no faster here).
 * -huge 1 puts the weights on 2 MiB transparent huge pages (MADV_HUGEPAGE), -huge 0 (default)
 * on 4 KiB pages (MADV_NOHUGEPAGE), to see what the TLB costs the stream (see gguf_open).
 *
 *   gemv_bench [-rows 32000] [-n 2048] [-chunk rows/8+1] [-r 10] [-t 1] [-guided 0] [-huge 0]
 *              [-types f16,q8_0,q4_0,q4_k,q6_k] (also q5_k, q2_k, q3_k)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* One sweep's shared state: threads claim chunks of `chunk` rows as mm_part does. */
struct sweep_job {
    const struct kern_type *k;
    kern_dot4_fn d4;
    int64_t n, rows, chunk;
    const unsigned char *w;
    size_t rb;
    const void *a;
    float *y;
    atomic_llong next;
    int64_t gmin;          /* -gmin: smallest guided chunk (32) */
    int gdiv;              /* -guided: > 0: chunks of (rows left) / gdiv rows */
    _Atomic int64_t next_row;
};

static void sweep(struct sweep_job *j)
{
    for (;;) {
        int64_t r0, r1;
        if (j->gdiv) { /* whole 4-row tiles, >= gmin rows */
            r0 = atomic_load_explicit(&j->next_row, memory_order_relaxed);
            do {
                if (r0 >= j->rows)
                    return;
                int64_t c = ((j->rows - r0) / j->gdiv + 3) / 4 * 4;
                c = c < j->gmin ? j->gmin : c;
                r1 = r0 + c < j->rows ? r0 + c : j->rows;
            } while (!atomic_compare_exchange_weak_explicit(&j->next_row, &r0, r1, memory_order_relaxed,
                                                            memory_order_relaxed));
        } else {
            r0 = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) * j->chunk;
            if (r0 >= j->rows)
                return;
            r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
        }
        int64_t r = r0;
        if (j->d4) {
            int64_t q = (r1 - r0) / 4;
            for (int64_t i = 0; i < q; i++)
                j->d4(j->n, j->w + (size_t)(r0 + i) * j->rb, (size_t)q * j->rb, j->a, j->y + r0 + i, (size_t)q);
            r += 4 * q;
        }
        for (; r < r1; r++)
            j->k->vec_dot(j->n, &j->y[r], j->w + (size_t)r * j->rb, j->a);
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The helper threads of -t: each waits (spinning) for the next sweep, runs it and records its
 * CPU seconds. */
#define MAX_THREADS 64
static struct {
    struct sweep_job *job;
    atomic_int gen, done, quit;
    double cpu[MAX_THREADS];
} pool;

static void *helper(void *arg)
{
    int id = (int)(intptr_t)arg, seen = 0;
    for (;;) {
        int g;
        while ((g = atomic_load(&pool.gen)) == seen && !atomic_load(&pool.quit))
            cpu_relax();
        if (atomic_load(&pool.quit))
            return NULL;
        seen = g;
        double c0 = cpu_now();
        sweep(pool.job);
        pool.cpu[id] = cpu_now() - c0;
        atomic_fetch_add(&pool.done, 1);
    }
}

/* One sweep over nth threads (the caller included). Returns its wall seconds; *cpu_sum gets
 * the threads' CPU seconds and *concurrent whether every thread ran >= 93% of the wall. */
static double run_sweep(struct sweep_job *j, int nth, double *cpu_sum, int *concurrent)
{
    atomic_store(&j->next, 0);
    atomic_store(&j->next_row, 0);
    pool.job = j;
    atomic_store(&pool.done, 0);
    double w0 = wall_now(), c0 = cpu_now();
    atomic_fetch_add(&pool.gen, 1);
    sweep(j);
    pool.cpu[0] = cpu_now() - c0;
    while (atomic_load(&pool.done) < nth - 1)
        cpu_relax();
    double dw = wall_now() - w0, mn = 1e30;
    *cpu_sum = 0;
    for (int i = 0; i < nth; i++) {
        *cpu_sum += pool.cpu[i];
        mn = pool.cpu[i] < mn ? pool.cpu[i] : mn;
    }
    *concurrent = mn >= 0.93 * dw;
    return dw;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int64_t rows = 32000, n = 2048, chunk = 0;
    int reps = 10, nth = 1, huge = 0, guided = 0;
    int64_t gmin = 32;
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
        else if (!strcmp(argv[i], "-t"))
            nth = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-gmin"))
            gmin = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-guided"))
            guided = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-huge"))
            huge = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-types"))
            types = argv[i + 1];
        else {
            fprintf(stderr, "usage: gemv_bench [-rows 32000] [-n 2048] [-chunk rows/8+1] [-r 10] [-t 1] [-huge 0] [-types ...]\n");
            return 2;
        }
    }
    if (rows < 4 || n < 256 || n % 256 || reps < 1 || chunk < 0 || nth < 1 || nth > MAX_THREADS) {
        fprintf(stderr, "gemv_bench: -rows must be >= 4, -n a multiple of 256, -r >= 1, -chunk >= 0, -t 1..64\n");
        return 2;
    }
    if (!chunk)
        chunk = nth == 1 ? rows / 8 + 1 : rows / (4 * nth) + 1; /* mm_part's dot4 chunks */
    pthread_t th[MAX_THREADS];
    for (int i = 1; i < nth; i++)
        if (pthread_create(&th[i], NULL, helper, (void *)(intptr_t)i)) {
            fprintf(stderr, "gemv_bench: pthread_create failed\n");
            return 1;
        }
    static const struct {
        const char *name;
        enum ggml_type t;
    } all[] = {{"f16", GGML_TYPE_F16}, {"q8_0", GGML_TYPE_Q8_0}, {"q4_0", GGML_TYPE_Q4_0},
               {"q4_k", GGML_TYPE_Q4_K}, {"q6_k", GGML_TYPE_Q6_K}, {"q5_k", GGML_TYPE_Q5_K},
               {"q2_k", GGML_TYPE_Q2_K}, {"q3_k", GGML_TYPE_Q3_K}};
    struct rng rg;
    rng_seed(&rg, 11);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (size_t ti = 0; ti < sizeof all / sizeof all[0]; ti++) {
        if (!strstr(types, all[ti].name))
            continue;
        const struct kern_type *k = kern_get(all[ti].t);
        kern_dot4_fn d4 = kern_get_tiles(all[ti].t)->dot4;
        size_t rb = ggml_row_size(all[ti].t, n);
        size_t wsz = (rb * (size_t)rows + (2u << 20) - 1) / (2u << 20) * (2u << 20);
        unsigned char *w = aligned_alloc(2u << 20, wsz), *a = malloc(ggml_row_size(k->vec_dot_type, n));
        if (w)
            (void)madvise(w, wsz, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
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
        double best[2] = {1e30, 1e30}, cpu[2] = {0, 0}, *conc[2];
        int n_conc[2] = {0, 0};
        conc[0] = malloc(sizeof(double) * (size_t)reps);
        conc[1] = malloc(sizeof(double) * (size_t)reps);
        for (int it = -1; it < reps; it++)
            for (int v = 0; v < 2; v++) {
                struct sweep_job j = {.k = k, .d4 = v ? d4 : NULL, .n = n, .rows = rows, .chunk = chunk, .w = w,
                                      .rb = rb, .a = a, .y = v ? y4 : y1, .gdiv = guided * nth, .gmin = gmin};
                double dc;
                int together;
                double dw = run_sweep(&j, nth, &dc, &together);
                if (it < 0)
                    continue;
                best[v] = dw < best[v] ? dw : best[v];
                cpu[v] += dc;
                if (together)
                    conc[v][n_conc[v]++] = dw;
            }
        double gb = (double)rb * (double)rows / 1e9, med[2];
        for (int v = 0; v < 2; v++) {
            qsort(conc[v], (size_t)n_conc[v], sizeof(double), cmp_double);
            med[v] = n_conc[v] ? gb / conc[v][n_conc[v] / 2] : 0;
        }
        printf("{\"type\":\"%s\",\"isa\":\"%s\",\"rows\":%lld,\"n\":%lld,\"chunk\":%lld,\"threads\":%d,\"huge\":%d,"
               "\"dot4\":%s,\"one_stream_gbs\":%.2f,\"one_stream_gbs_cpu\":%.2f,\"one_stream_gbs_concurrent\":%.2f,"
               "\"dot4_gbs\":%.2f,\"dot4_gbs_cpu\":%.2f,\"dot4_gbs_concurrent\":%.2f,\"concurrent_sweeps\":[%d,%d],"
               "\"identical\":%s}\n",
               all[ti].name, kern_isa_name(), (long long)rows, (long long)n, (long long)chunk, nth, huge,
               d4 ? "true" : "false", gb / best[0], gb * reps / cpu[0], med[0], gb / best[1], gb * reps / cpu[1], med[1],
               n_conc[0], n_conc[1], memcmp(y1, y4, sizeof(float) * (size_t)rows) ? "false" : "true");
        free(conc[0]);
        free(conc[1]);
        free(w);
        free(a);
        free(y1);
        free(y4);
    }
    atomic_store(&pool.quit, 1);
    for (int i = 1; i < nth; i++)
        pthread_join(th[i], NULL);
    free(x);
    return 0;
}
