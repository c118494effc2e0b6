/* profile.c — per-node timing of plan runs (INFERD_ONNX_PROFILE=1, see onnx_int.h): the run
 * loop in model.c adds each step's process CPU time (all threads: steadier than wall time on
 * a shared machine, and it shows what a pool's spinning costs) to the step, or its wall time
 * with INFERD_ONNX_PROFILE=wall (what a thread count gains per node), or each step's fastest
 * wall time over the runs with =min (what a thread count gains per node on a machine that other
 * processes load: a run they preempt is slower, never faster); when the plan is freed (model
 * close, or LRU eviction) a table goes to stderr: time per op type, then the slowest nodes
 * with their output shapes and a depthwise/pointwise tag for convs, which is what a kernel
 * change needs to know first. A developer tool: the serving path leaves it off. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onnx/onnx_int.h"

static pthread_once_t prof_once = PTHREAD_ONCE_INIT;
static int prof_flag, prof_wall, prof_min;

static void prof_init(void)
{
    const char *e = getenv("INFERD_ONNX_PROFILE");
    prof_min = e && strcmp(e, "min") == 0;
    prof_wall = e && (strcmp(e, "wall") == 0 || prof_min);
    prof_flag = e && (strcmp(e, "1") == 0 || prof_wall);
}

int ox_prof_on(void)
{
    pthread_once(&prof_once, prof_init);
    return prof_flag;
}

uint64_t ox_prof_now(void)
{
    struct timespec ts;
    clock_gettime(prof_wall ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ox_prof_add(struct ox_step *st, uint64_t ns)
{
    if (!prof_min)
        st->prof_ns += ns;
    else if (!st->prof_runs || ns < st->prof_ns)
        st->prof_ns = ns;
    st->prof_runs++;
}

#define PROF_TYPES 64 /* op types listed; the rest fold into "(other)" */
#define PROF_TOP 25   /* slowest nodes listed */

static void shape_str(const struct ox_tensor *t, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = 0;
    for (int d = 0; d < t->rank && at + 24 < cap; d++)
        at += (size_t)snprintf(buf + at, cap - at, d ? "x%lld" : "%lld", (long long)t->dims[d]);
}

/* "dw" for a depthwise conv (group == channels), "1x1" for a pointwise one, "" otherwise */
static const char *conv_tag(const struct ox_step *st)
{
    if (strcmp(st->node->op_type, "Conv") != 0 || st->node->n_in < 2 || st->in[1]->rank != 4)
        return "";
    const struct ox_tensor *w = st->in[1];
    if (w->dims[1] == 1 && st->in[0]->rank == 4 && st->in[0]->dims[1] > 1)
        return "dw";
    return w->dims[2] == 1 && w->dims[3] == 1 ? "1x1" : "";
}

void ox_prof_report(const struct ox_plan *p)
{
    const char *type[PROF_TYPES + 1];
    uint64_t ns[PROF_TYPES + 1] = {0}, total = 0, runs = 0;
    int count[PROF_TYPES + 1] = {0}, nt = 0;
    for (int s = 0; s < p->n_steps; s++) {
        const struct ox_step *st = &p->steps[s];
        if (st->prof_runs > runs)
            runs = st->prof_runs;
        total += st->prof_ns;
        int i = 0;
        while (i < nt && strcmp(type[i], st->node->op_type) != 0)
            i++;
        if (i == nt) {
            if (nt < PROF_TYPES)
                type[nt++] = st->node->op_type;
            else
                type[i = PROF_TYPES] = "(other)";
        }
        ns[i] += st->prof_ns;
        count[i]++;
    }
    if (!runs)
        return;
    uint64_t div = prof_min ? 1 : runs; /* =min keeps one run's time per step */
    fprintf(stderr, "onnx profile (%s): %d steps, %llu runs, %.1f us per run\n",
            prof_min ? "fastest wall time per step" : prof_wall ? "wall time" : "process CPU time", p->n_steps,
            (unsigned long long)runs, (double)total / 1e3 / (double)div);
    fprintf(stderr,
            "  memory plan: %.1f KiB arena, %.1f KiB packed weights, %d views, %d Concat inputs in place, %d outputs "
            "over their input\n",
            (double)p->arena_size / 1024.0, (double)p->packed_size / 1024.0, p->n_views, p->n_in_place, p->n_reused);
    fprintf(stderr, "  %-24s %6s %12s %7s\n", "op_type", "nodes", "us_per_run", "share");
    for (;;) { /* by descending time: pick the largest left each round */
        int best = -1;
        for (int i = 0; i <= PROF_TYPES; i++)
            if (count[i] && (best < 0 || ns[i] > ns[best]))
                best = i;
        if (best < 0)
            break;
        fprintf(stderr, "  %-24s %6d %12.1f %6.1f%%\n", type[best], count[best], (double)ns[best] / 1e3 / (double)div,
                total ? 100.0 * (double)ns[best] / (double)total : 0.0);
        count[best] = 0;
    }
    int top[PROF_TOP], n_top = 0;
    for (int s = 0; s < p->n_steps; s++) { /* insertion into the PROF_TOP slowest */
        uint64_t t = p->steps[s].prof_ns;
        if (n_top == PROF_TOP && p->steps[top[PROF_TOP - 1]].prof_ns >= t)
            continue;
        int at = n_top < PROF_TOP ? n_top++ : PROF_TOP - 1;
        while (at > 0 && p->steps[top[at - 1]].prof_ns < t) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = s;
    }
    fprintf(stderr, "  slowest nodes:\n");
    for (int i = 0; i < n_top; i++) {
        const struct ox_step *st = &p->steps[top[i]];
        char in[96], out[96];
        shape_str(st->in[0] ? st->in[0] : st->out[0], in, sizeof in);
        shape_str(st->out[0], out, sizeof out);
        fprintf(stderr, "  %10.1f us  %-12s %-3s %s -> %s  %s\n", (double)st->prof_ns / 1e3 / (double)div,
                st->node->op_type, conv_tag(st), in, out, st->node->name);
    }
}
