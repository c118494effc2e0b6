/* test_gen_par.c — gen_par.c, the thread count of generation steps: its state machine on
 * synthetic step times (no clock: a quiet machine keeps all threads, a shared one moves to
 * one thread and probes back rarely, and returns when the load goes), and generation that
 * switches between one thread and all threads job by job (INFERD_LLM_GEN_THREADS=flip) gives
 * the 1-thread logits bit for bit, for Q8_0, Q4_0, Q4_K and F16 weights (and so does "auto"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "llm/llm_int.h"
#include "support/model_random.h"

static char dir[256];

/* Runs n steps of a machine where a one-thread step takes t1, an all-thread step t2 of
 * which the caller waits w at joins; returns how many steps ran on all threads. */
static int steps(struct llm_par *p, int n, uint64_t t1, uint64_t t2, uint64_t w)
{
    int all = 0;
    for (int i = 0; i < n; i++) {
        int nth = llm_par_pick(p);
        all += nth > 1;
        llm_par_update(p, nth == 1 ? t1 : t2, nth == 1 ? 0 : w);
    }
    return all;
}

static void test_state_machine(void)
{
    struct llm_par p;
    /* quiet: short joins, two threads faster: never a one-thread step */
    llm_par_reset(&p, LLM_PAR_AUTO, 2);
    CHECK(steps(&p, 500, 100000, 70000, 3000) == 500);
    CHECK(p.n_switch == 0);
    /* long joins, but two threads still faster: one-thread probes at most every
     * LLM_PAR_MAX_BACKOFF steps once backed off, no switch */
    llm_par_reset(&p, LLM_PAR_AUTO, 2);
    int all = steps(&p, 500, 100000, 80000, 20000);
    CHECK(all >= 500 - 500 / 32 - 4 && all < 500);
    CHECK(p.n_switch == 0);
    /* shared machine: two threads slower with long joins -> one thread, all-thread probes
     * at most every LLM_PAR_MAX_BACKOFF steps once backed off */
    llm_par_reset(&p, LLM_PAR_AUTO, 2);
    steps(&p, 100, 100000, 160000, 50000);
    CHECK(p.one == 1);
    all = steps(&p, 320, 100000, 160000, 50000);
    CHECK(all >= 1 && all <= 320 / 32 + 1);
    CHECK(p.n_switch == 1);
    /* the load goes: back to all threads within one backoff, and it stays */
    steps(&p, 40, 100000, 70000, 3000);
    CHECK(p.one == 0);
    CHECK(steps(&p, 200, 100000, 70000, 3000) == 200);
    CHECK(p.n_switch == 2);
    /* a pool of one: one thread */
    llm_par_reset(&p, LLM_PAR_AUTO, 1);
    CHECK(llm_par_pick(&p) == 1);
}

static struct inferd_llm_model *make(const char *name, struct llm_random_spec s, int threads)
{
    return llm_random_model_make(dir, name, &s, threads);
}

/* Logits after a 12-token prompt and 6 generated tokens; OUT: *one_jobs, *jobs of the
 * generation steps. Returns a malloc'd n_vocab row, or NULL. */
static float *gen_logits(struct inferd_llm_model *m, uint64_t *one_jobs, uint64_t *jobs)
{
    static const int32_t prompt[12] = {1, 17, 260, 261, 99, 280, 5, 33, 270, 271, 2, 150};
    int nv = inferd_llm_info(m)->n_vocab;
    struct inferd_llm_ctx *c = NULL;
    struct inferd_err err = {0};
    if (inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = 64, .n_batch = 64}, &c, &err) < 0) {
        printf("ctx: %s\n", err.msg);
        return NULL;
    }
    int32_t pos[12], seq[12] = {0};
    for (int i = 0; i < 12; i++)
        pos[i] = i;
    int rc = inferd_llm_decode(c, &(struct inferd_llm_batch){.n = 12, .tokens = prompt, .pos = pos, .seq = seq}, &err);
    for (int i = 0; i < 6 && rc == 0; i++) {
        int32_t p1 = 12 + i;
        rc = inferd_llm_decode(c, &(struct inferd_llm_batch){.n = 1, .tokens = &prompt[i], .pos = &p1, .seq = seq},
                               &err);
    }
    float *out = rc == 0 ? malloc(sizeof(float) * (size_t)nv) : NULL;
    if (out)
        memcpy(out, inferd_llm_logits(c, 0), sizeof(float) * (size_t)nv);
    *one_jobs = c->par.n_one_jobs;
    *jobs = c->par.n_jobs;
    inferd_llm_ctx_free(c);
    return out;
}

/* Matmuls big enough to be split (and attention over 12-18 positions of 8 heads). */
static void test_flip_identical(enum ggml_type type, const char *name)
{
    struct llm_random_spec s = llm_random_spec_tiny();
    s.n_embd = 512;
    s.n_head = 8;
    s.n_head_kv = 4;
    s.n_ff = 1024;
    s.type = s.embd_type = type;
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "%s_t1", name);
    snprintf(n2, sizeof n2, "%s_t2", name);
    struct inferd_llm_model *m1 = make(n1, s, 1), *m2 = make(n2, s, 2);
    CHECK(m1 && m2);
    if (m1 && m2) {
        uint64_t one1, jobs1, one2, jobs2;
        unsetenv("INFERD_LLM_GEN_THREADS");
        float *a = gen_logits(m1, &one1, &jobs1);
        setenv("INFERD_LLM_GEN_THREADS", "flip", 1);
        float *b = gen_logits(m2, &one2, &jobs2);
        uint64_t one3, jobs3;
        setenv("INFERD_LLM_GEN_THREADS", "auto", 1); /* the timed path (whatever it picks) */
        float *d = gen_logits(m2, &one3, &jobs3);
        unsetenv("INFERD_LLM_GEN_THREADS");
        CHECK(a && b && d);
        if (a && b && d) {
            int nv = inferd_llm_info(m1)->n_vocab, same = 1, same_auto = 1;
            for (int i = 0; i < nv; i++) {
                same &= memcmp(&a[i], &b[i], sizeof(float)) == 0;
                same_auto &= memcmp(&a[i], &d[i], sizeof(float)) == 0;
            }
            if (!same || !same_auto)
                printf("%s: flip %d / auto %d logits differ from 1 thread\n", name, !same, !same_auto);
            CHECK(same && same_auto);
        }
        CHECK(jobs3 > 0);
        CHECK(jobs1 == 0);                     /* a pool of one: no step is adaptive */
        CHECK(one2 > 0 && one2 < jobs2);       /* both thread counts ran */
        free(a);
        free(b);
        free(d);
    }
    inferd_llm_free(m1);
    inferd_llm_free(m2);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/inferd-test-genpar-%d", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0)
        check_skip("cannot create a temp dir");
    test_state_machine();
    test_flip_identical(GGML_TYPE_Q8_0, "q8_0");
    test_flip_identical(GGML_TYPE_Q4_0, "q4_0");
    test_flip_identical(GGML_TYPE_Q4_K, "q4_k");
    test_flip_identical(GGML_TYPE_F16, "f16");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("could not remove %s\n", dir);
    return check_finish();
}
