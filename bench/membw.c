/* membw.c — a small STREAM-like memory-bandwidth probe, so the LLM bench can show how close
 * generation (which streams every weight once per token) gets to the machine's ceiling.
 *
 *   build/tests/unit/llm/membw [-t THREADS] [-m MIB_PER_ARRAY] [-r REPS]
 *
 * Kernels, each over arrays far larger than the last-level cache, split over THREADS
 * threads, best of REPS (as STREAM reports): read (sum of a, like a weight stream), copy
 * (c = a), triad (a = b + s c). Bytes counted as STREAM does (read + written, no
 * write-allocate traffic). Prints one JSON line with GB/s (1e9 bytes/s). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

enum { K_READ, K_COPY, K_TRIAD, K_N };

struct part {
    int kernel;
    size_t n0, n1;
    double *a, *b, *c;
    double sink;
    pthread_barrier_t *bar;
};

static void run_kernel(struct part *p)
{
    double *a = p->a, *b = p->b, *c = p->c;
    if (p->kernel == K_READ) {
        /* integer sum of the bits: the compiler vectorises it (a float sum it may not
         * reorder), so the loop is bound by memory, not by add latency */
        const uint64_t *u = (const uint64_t *)a;
        uint64_t sum = 0;
        for (size_t i = p->n0; i < p->n1; i++)
            sum += u[i];
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
    run_kernel(p);
    pthread_barrier_wait(p->bar);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 1, mib = 256, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-m"))
            mib = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            reps = atoi(argv[i + 1]);
    }
    if (threads < 1 || threads > 64 || mib < 1 || mib > 4096 || reps < 1) {
        fprintf(stderr, "usage: membw [-t 1..64] [-m MiB 1..4096] [-r reps]\n");
        return 2;
    }
    size_t n = (size_t)mib * 1024 * 1024 / sizeof(double);
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
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
    const double bytes[K_N] = {8.0 * n, 16.0 * n, 24.0 * n};
    double best[K_N] = {0};
    double sink = 0;
    pthread_barrier_t bar;
    for (int k = 0; k < K_N; k++) {
        for (int r = 0; r < reps; r++) {
            pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
            for (int t = 0; t < threads; t++) {
                parts[t] = (struct part){k, n * t / threads, n * (t + 1) / threads, a, b, c, 0, &bar};
                pthread_create(&tid[t], NULL, worker, &parts[t]);
            }
            pthread_barrier_wait(&bar);
            uint64_t t0 = clock_now_ns();
            pthread_barrier_wait(&bar);
            uint64_t t1 = clock_now_ns();
            for (int t = 0; t < threads; t++) {
                pthread_join(tid[t], NULL);
                sink += parts[t].sink;
            }
            pthread_barrier_destroy(&bar);
            double gbs = bytes[k] / ((t1 - t0) / 1e9) / 1e9;
            if (gbs > best[k])
                best[k] = gbs;
        }
    }
    printf("{\"threads\":%d,\"mib_per_array\":%d,\"read_gbs\":%.2f,\"copy_gbs\":%.2f,\"triad_gbs\":%.2f,"
           "\"check\":%.0f}\n",
           threads, mib, best[K_READ], best[K_COPY], best[K_TRIAD], sink > 0 ? 1.0 : 0.0);
    free(a);
    free(b);
    free(c);
    free(parts);
    free(tid);
    return 0;
}
