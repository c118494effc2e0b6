/* test_attn.c — the attention tile kernels (kernels/attn.h) of every ISA this CPU runs
 * (AVX-512, AVX2) against the scalar reference, for F32, F16 and Q8_0 cache rows: q.K score
 * tiles and p.V accumulation, over head sizes with and without SIMD tails, query counts
 * around the 4-query register blocks and tiles of 1..64 keys. An ISA the CPU lacks is
 * skipped with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/rng.h"
#include "llm/kernels/attn.h"
#include "llm/kernels/fp16.h"
#include "llm/kernels/kernels.h"

static struct rng rng = {{0x9E3779B97F4A7C15ull, 3, 5, 7}};
static float frand(void) /* [-1, 1) */
{
    return (float)(rng_next(&rng) % 2000001) / 1000000.f - 1.f;
}

#define MAXQ 16
#define MAXK 64
#define MAXD 256

static float qf[MAXQ * MAXD], kf[MAXK * MAXD], vf[MAXK * MAXD], p[MAXQ * MAXK];
/* key/value rows sit row + 64 bytes apart (see run_case) */
static unsigned char qb[MAXQ * MAXD * 4], kb[MAXK * (MAXD * 4 + 64)], vb[MAXK * (MAXD * 4 + 64)];

static double run_case(const struct kern_attn *isa, enum kern_kv_type t, int hd, int nq, int nk)
{
    const struct kern_attn *ref = kern_attn_ref(t);
    const struct kern_kv_ops *ops = kern_kv(t);
    size_t row = kern_kv_bytes(ops, hd), qs = t == KERN_KV_Q8_0 ? row : sizeof(float) * hd;
    const void *kp[MAXK], *vp[MAXK];
    for (int i = 0; i < nq * hd; i++)
        qf[i] = t == KERN_KV_F16 ? fp16_round(frand()) : frand();
    for (int i = 0; i < nk * hd; i++)
        kf[i] = frand(), vf[i] = frand();
    for (int i = 0; i < nq * MAXK; i++)
        p[i] = (frand() + 1.f) / 2.f;
    for (int i = 0; i < nq; i++)
        if (t == KERN_KV_Q8_0)
            quant_row_q8_0(qf + i * hd, qb + i * qs, hd);
        else
            memcpy(qb + i * qs, qf + i * hd, qs);
    /* key/value rows scattered with a stride that is not the row size, as in the cache */
    for (int j = 0; j < nk; j++) {
        kp[j] = kb + (size_t)j * (row + 64);
        vp[j] = vb + (size_t)j * (row + 64);
        ops->store(kf + j * hd, kb + (size_t)j * (row + 64), hd);
        ops->store(vf + j * hd, vb + (size_t)j * (row + 64), hd);
    }
    static float s0[MAXQ * MAXK], s1[MAXQ * MAXK], o0[MAXQ * MAXD], o1[MAXQ * MAXD];
    ref->qk(hd, nq, qb, qs, nk, kp, s0, MAXK);
    isa->qk(hd, nq, qb, qs, nk, kp, s1, MAXK);
    double worst = 0;
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            double d = fabs(s0[i * MAXK + j] - s1[i * MAXK + j]) / (1.0 + fabs(s0[i * MAXK + j]));
            worst = d > worst ? d : worst;
        }
    for (int i = 0; i < nq * hd; i++)
        o0[i] = o1[i] = frand();
    ref->pv(hd, nq, p, MAXK, nk, vp, o0, hd);
    isa->pv(hd, nq, p, MAXK, nk, vp, o1, hd);
    for (int i = 0; i < nq * hd; i++) {
        double d = fabs(o0[i] - o1[i]) / (1.0 + fabs(o0[i]));
        worst = d > worst ? d : worst;
    }
    return worst;
}

/* The reference against plain float arithmetic on the dequantized rows (q.K, p.V). */
static void check_reference(enum kern_kv_type t)
{
    const int hd = 64, nq = 3, nk = 5;
    const struct kern_attn *ref = kern_attn_ref(t);
    const struct kern_kv_ops *ops = kern_kv(t);
    size_t row = kern_kv_bytes(ops, hd);
    const void *kp[8], *vp[8];
    float deq[MAXD], s[MAXQ * MAXK], o[MAXQ * MAXD] = {0};
    for (int i = 0; i < nq * hd; i++)
        qf[i] = frand();
    for (int j = 0; j < nk; j++) {
        for (int d = 0; d < hd; d++)
            kf[j * hd + d] = frand(), vf[j * hd + d] = frand();
        ops->store(kf + j * hd, kb + j * row, hd);
        ops->store(vf + j * hd, vb + j * row, hd);
        kp[j] = kb + j * row;
        vp[j] = vb + j * row;
    }
    size_t qs = sizeof(float) * hd;
    if (t == KERN_KV_Q8_0) {
        qs = row;
        for (int i = 0; i < nq; i++)
            quant_row_q8_0(qf + i * hd, qb + i * qs, hd);
    } else {
        memcpy(qb, qf, sizeof(float) * nq * hd);
    }
    for (int i = 0; i < nq * MAXK; i++)
        p[i] = (frand() + 1.f) / 2.f;
    ref->qk(hd, nq, qb, qs, nk, kp, s, MAXK);
    ref->pv(hd, nq, p, MAXK, nk, vp, o, hd);
    double tol = t == KERN_KV_Q8_0 ? 0.1 : t == KERN_KV_F16 ? 2e-2 : 1e-4;
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            double want = 0;
            for (int d = 0; d < hd; d++)
                want += (double)qf[i * hd + d] * kf[j * hd + d];
            CHECK_NEAR(s[i * MAXK + j], want, tol);
        }
    for (int i = 0; i < nq; i++)
        for (int d = 0; d < hd; d++) {
            double want = 0;
            for (int j = 0; j < nk; j++) {
                (t == KERN_KV_Q8_0 ? dequant_row_q8_0 : t == KERN_KV_F16 ? dequant_row_f16 : dequant_row_f32)(
                    vp[j], deq, hd);
                want += (double)p[i * MAXK + j] * deq[d];
            }
            CHECK_NEAR(o[i * hd + d], want, 1e-4);
        }
}

/* exp_sum: each value within 4e-7 relative of expf (ggml's vectorized expf is within 1.5
 * ulp of exp, expf within 0.5), and the sum close; lengths around the 8 / 16 lanes. */
static void check_exp(const struct kern_attn *isa, const char *name)
{
    static float x0[200], x1[200];
    double worst = 0;
    for (int n = 1; n < 200; n += 7) {
        for (int i = 0; i < n; i++)
            x0[i] = x1[i] = frand() * 60.f + (i % 5 == 0 ? -100.f : 0.f);
        float mx = -1e30f;
        for (int i = 0; i < n; i++)
            mx = x0[i] > mx ? x0[i] : mx;
        double s0 = kern_attn_ref(KERN_KV_F16)->exp_sum(x0, n, mx), s1 = isa->exp_sum(x1, n, mx);
        for (int i = 0; i < n; i++) {
            if (x0[i] < 1e-37f) { /* subnormal or zero: absolute */
                CHECK(fabsf(x0[i] - x1[i]) < 1e-38f);
                continue;
            }
            double d = fabs(x0[i] - x1[i]) / x0[i];
            worst = d > worst ? d : worst;
            CHECK(d < 4e-7);
        }
        CHECK(fabs(s0 - s1) <= 1e-6 * s0);
    }
    printf("%s exp: max rel diff vs expf %.3g\n", name, worst);
}

int main(void)
{
    static const char *const names[3] = {"f32", "f16", "q8_0"};
    static const int hds[] = {16, 32, 48, 64, 80, 96, 128, 256}, nqs[] = {1, 2, 4, 5, 8, 16},
                     nks[] = {1, 7, 16, 64};
    for (int t = 0; t < 3; t++)
        check_reference((enum kern_kv_type)t);
    for (int ii = 0; ii < 2; ii++) {
        const char *isa = ii == 0 ? "avx512" : "avx2";
        if (!kern_attn_isa(isa, KERN_KV_F16)) {
            printf("skip %s: this CPU lacks it\n", isa);
            continue;
        }
        check_exp(kern_attn_isa(isa, KERN_KV_F16), isa);
        for (int t = 0; t < 3; t++) {
            double worst = 0;
            int cases = 0;
            for (size_t a = 0; a < sizeof hds / sizeof *hds; a++) {
                if (t == KERN_KV_Q8_0 && hds[a] % 32)
                    continue;
                for (size_t b = 0; b < sizeof nqs / sizeof *nqs; b++)
                    for (size_t c = 0; c < sizeof nks / sizeof *nks; c++) {
                        double w = run_case(kern_attn_isa(isa, (enum kern_kv_type)t), (enum kern_kv_type)t, hds[a],
                                            nqs[b], nks[c]);
                        if (w > 1e-5)
                            printf("%s %s hd %d nq %d nk %d: rel diff %.3g\n", isa, names[t], hds[a], nqs[b],
                                   nks[c], w);
                        CHECK(w <= 1e-5);
                        worst = w > worst ? w : worst;
                        cases++;
                    }
            }
            printf("%s %s: %d cases, max rel diff vs scalar %.3g\n", isa, names[t], cases, worst);
        }
    }
    return check_finish();
}
