/* membw.c — a small STREAM-like memory-bandwidth probe, so the LLM bench can show how close
 * generation (which streams every weight once per token) gets to the machine's ceiling.
 *
 *   build/tests/unit/llm/membw [-t THREADS] [-m MIB_PER_ARRAY] [-r REPS] [-huge 0|1]
 *
 * Kernels, each over arrays far larger than the last-level cache, split over THREADS
 * threads, best of REPS (as STREAM reports): read (sum of a, like a weight stream), copy
 * (c = a), triad (a = b + s c), and read4: the read as generation's dot4 matvec walks its
 * weights (kern_tiles.dot4), four concurrent sequential streams per thread (its part's
 * quarters), one 64-byte line per stream per step, each stream software-prefetched 1 KiB
 * ahead, 512-bit loads (AVX-512F; else two 256-bit AVX2 loads; else scalar). One core's read
 * rate is bounded by how many misses it keeps in flight, so read4 is the ceiling generation
 * can reach: on the Zen 5 test machine, 1 thread, about 35 GB/s per CPU-second against
 * read's 25 (Q8_0 generation streamed 33). Without the prefetch the 4 streams gave 24 with
 * 512-bit loads and 33 with 256-bit ones; 512 or 2048 bytes ahead gave less than 1024.
 * Bytes counted as STREAM does (read + written, no write-allocate traffic). Prints one JSON
 * line with GB/s (1e9 bytes/s): by wall clock, from the first thread's start to the last
 * one's end (each thread reads its own clocks around its kernel, so a thread the OS runs
 * late or a main thread that wakes late from the start barrier cannot shrink the window;
 * session 16 read "300 GB/s" at 2 threads when the main thread timed it), and per
 * CPU-second (bytes over the slowest thread's CPU time), which a machine busy with other
 * work inflates less (its memory traffic still competes).
 * -huge 1 puts the arrays on 2 MiB transparent huge pages (MADV_HUGEPAGE), as gguf_open asks
 * for the weights; -huge 0 (default) on 4 KiB pages (MADV_NOHUGEPAGE). A stream pays a TLB
 * miss and page walk per 4 KiB page: on the Zen 4 test machine 2-thread F16 generation
 * streams read 52 GB/s over 4 KiB pages and 68 over 2 MiB ones (bench/gemv_bench -huge). */
#include <pthread.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

#include "base/clock.h"
#include "base/cpu.h"

enum { K_READ, K_COPY, K_TRIAD, K_READ4, K_N };

struct part {
    int kernel;
    size_t n0, n1;
    double *a, *b, *c;
    double sink;
    double cpu_s;             /* this thread's CPU seconds in the kernel */
    uint64_t wall0, wall1;    /* its wall clock (clock_now_ns) at the kernel's start and end */
    pthread_barrier_t *bar;
};

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define READ4_PF 1024 /* bytes each stream is prefetched ahead (see the header) */

/* Sum of u[0..n) read as 4 sequential streams (quarters), a line per stream per step. */
__attribute__((target("avx512f"))) static uint64_t read4_avx512(const uint64_t *u, size_t n)
{
    size_t q = n / 4 / 8 * 8;
    __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (size_t i = 0; i < q; i += 8)
        for (int k = 0; k < 4; k++) {
            const uint64_t *p = u + (size_t)k * q + i;
            _mm_prefetch((const char *)p + READ4_PF, _MM_HINT_T0);
            s[k] = _mm512_add_epi64(s[k], _mm512_loadu_si512(p));
        }
    uint64_t r = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(s[0], s[1]), _mm512_add_epi64(s[2], s[3])));
    for (size_t i = 4 * q; i < n; i++)
        r += u[i];
    return r;
}

__attribute__((target("avx2"))) static uint64_t read4_avx2(const uint64_t *u, size_t n)
{
    size_t q = n / 4 / 8 * 8;
    __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (size_t i = 0; i < q; i += 8)
        for (int k = 0; k < 4; k++) {
            const uint64_t *p = u + (size_t)k * q + i;
            _mm_prefetch((const char *)p + READ4_PF, _MM_HINT_T0);
            s[k] = _mm256_add_epi64(s[k], _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)p),
                                                           _mm256_loadu_si256((const __m256i *)(p + 4))));
        }
    __m256i t = _mm256_add_epi64(_mm256_add_epi64(s[0], s[1]), _mm256_add_epi64(s[2], s[3]));
    uint64_t r[4];
    _mm256_storeu_si256((__m256i *)r, t);
    for (size_t i = 4 * q; i < n; i++)
        r[0] += u[i];
    return r[0] + r[1] + r[2] + r[3];
}

static uint64_t read4_scalar(const uint64_t *u, size_t n)
{
    size_t q = n / 4;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < q; i++) {
        s0 += u[i];
        s1 += u[q + i];
        s2 += u[2 * q + i];
        s3 += u[3 * q + i];
    }
    for (size_t i = 4 * q; i < n; i++)
        s0 += u[i];
    return s0 + s1 + s2 + s3;
}

static void run_kernel(struct part *p)
{
    double *a = p->a, *b = p->b, *c = p->c;
    if (p->kernel == K_READ) {
        /* integer sum of the bits: the compiler vectorises it (a float sum it may not
         * reorder), so the loop is bound by memory, not by add latency */
        const uint64_t *u = (const uint64_t *)a;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t i = p->n0;
        for (; i + 4 <= p->n1; i += 4) {
            s0 += u[i];
            s1 += u[i + 1];
            s2 += u[i + 2];
            s3 += u[i + 3];
        }
        for (; i < p->n1; i++)
            s0 += u[i];
        p->sink += (double)((s0 + s1 + s2 + s3) >> 60) + 1.0;
    } else if (p->kernel == K_READ4) {
        const uint64_t *u = (const uint64_t *)a + p->n0;
        size_t n = p->n1 - p->n0;
        uint64_t sum = cpu_has(CPU_AVX512F) ? read4_avx512(u, n) : cpu_has(CPU_AVX2) ? read4_avx2(u, n) : read4_scalar(u, n);
        p->sink += (double)(sum >> 60) + 1.0;
    } else if (p->kernel == K_COPY) {
        memcpy(c + p->n0, a + p->n0, (p->n1 - p->n0) * sizeof(double));
    } else {
        for (size_t i = p->n0; i < p->n1; i++)
            a[i] = b[i] + 3.0 * c[i];
    }
}

static void *worker(void *arg)
{
    struct part *p = arg;
    pthread_barrier_wait(p->bar);
    p->wall0 = clock_now_ns();
    double c0 = thread_cpu_seconds();
    run_kernel(p);
    p->cpu_s = thread_cpu_seconds() - c0;
    p->wall1 = clock_now_ns();
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 1, mib = 256, reps = 5, huge = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-m"))
            mib = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-huge"))
            huge = atoi(argv[i + 1]);
    }
    if (threads < 1 || threads > 64 || mib < 1 || mib > 4096 || reps < 1) {
        fprintf(stderr, "usage: membw [-t 1..64] [-m MiB 1..4096] [-r reps] [-huge 0|1]\n");
        return 2;
    }
    size_t n = (size_t)mib * 1024 * 1024 / sizeof(double);
    size_t sz = n * sizeof(double); /* a whole number of MiB: 2 MiB-aligned arrays of whole 2 MiB pages */
    sz = (sz + (2u << 20) - 1) / (2u << 20) * (2u << 20);
    double *a = aligned_alloc(2u << 20, sz), *b = aligned_alloc(2u << 20, sz), *c = aligned_alloc(2u << 20, sz);
    for (int i = 0; i < 3; i++) {
        void *arr = i == 0 ? (void *)a : i == 1 ? (void *)b : (void *)c;
        if (arr)
            (void)madvise(arr, sz, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    }
    struct part *parts = calloc((size_t)threads, sizeof *parts);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!a || !b || !c || !parts || !tid) {
        fprintf(stderr, "membw: out of memory for 3 x %d MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++) { /* touch every page before timing */
        a[i] = 1.0;
        b[i] = 2.0;
        c[i] = 0.5;
    }
    const double bytes[K_N] = {8.0 * n, 16.0 * n, 24.0 * n, 8.0 * n};
    double best[K_N] = {0}, best_cpu[K_N] = {0};
    double sink = 0;
    pthread_barrier_t bar;
    for (int k = 0; k < K_N; k++) {
        for (int r = 0; r < reps; r++) {
            pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
            for (int t = 0; t < threads; t++) {
                parts[t] = (struct part){k, n * t / threads, n * (t + 1) / threads, a, b, c, 0, 0, 0, 0, &bar};
                pthread_create(&tid[t], NULL, worker, &parts[t]);
            }
            pthread_barrier_wait(&bar); /* all created: release them together */
            double cpu = 0;
            uint64_t t0 = UINT64_MAX, t1 = 0;
            for (int t = 0; t < threads; t++) {
                pthread_join(tid[t], NULL);
                sink += parts[t].sink;
                cpu = parts[t].cpu_s > cpu ? parts[t].cpu_s : cpu;
                t0 = parts[t].wall0 < t0 ? parts[t].wall0 : t0;
                t1 = parts[t].wall1 > t1 ? parts[t].wall1 : t1;
            }
            if (cpu > 0 && bytes[k] / cpu / 1e9 > best_cpu[k])
                best_cpu[k] = bytes[k] / cpu / 1e9;
            pthread_barrier_destroy(&bar);
            double gbs = bytes[k] / ((t1 - t0) / 1e9) / 1e9;
            if (gbs > best[k])
                best[k] = gbs;
        }
    }
    printf("{\"threads\":%d,\"huge\":%d,\"mib_per_array\":%d,\"read_gbs\":%.2f,\"copy_gbs\":%.2f,\"triad_gbs\":%.2f,"
           "\"read4_gbs\":%.2f,\"read_gbs_cpu\":%.2f,\"copy_gbs_cpu\":%.2f,\"triad_gbs_cpu\":%.2f,"
           "\"read4_gbs_cpu\":%.2f,\"check\":%.0f}\n",
           threads, huge, mib, best[K_READ], best[K_COPY], best[K_TRIAD], best[K_READ4], best_cpu[K_READ], best_cpu[K_COPY],
           best_cpu[K_TRIAD], best_cpu[K_READ4], sink > 0 ? 1.0 : 0.0);
    free(a);
    free(b);
    free(c);
    free(parts);
    free(tid);
    return 0;
}
