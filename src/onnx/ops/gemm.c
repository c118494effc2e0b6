/* gemm.c — Gemm and MatMul (FP32) through OpenBLAS's cblas_sgemm, single-threaded BLAS
 * split over inferd's pool: by rows of the output when there are enough, else by columns.
 *
 *   Gemm:   Y (M,N) = alpha * op(A) (M,K) @ op(B) (K,N) + beta * C (broadcast to M,N)
 *           A constant B (weights) is packed once per plan into 16-column panels and,
 *           for M >= 6 on AVX2 machines, multiplied by the 6x16 kernel of gemm_nt.h, or
 *           with fewer rows (a classifier at batch 1) when B holds N*K >= GEMV_PK_MIN
 *           floats: one stream per panel from memory, where B's rows read 4 at a time in
 *           K chunks were slower (MobileNetV2's 1280x1000: 360 -> 230 us);
 *           transB=1 with fewer rows and smaller weights uses the dot-product kernel
 *           instead. MatMul with a constant 2-D B uses the packed kernel too.
 *   MatMul: numpy matmul; 1-D operands promoted, batch dims broadcast; a batch over a
 *           2-D right operand is folded into one tall GEMM.
 *   InferdMatMul: MatMul by a constant 2-D B plus a bias row [then GELU], fused at load;
 *           the packed kernel adds the bias and applies GELU in its store.
 * The packed kernel is AVX-512 (12x32 blocks) or AVX2 (6x16) as ox_gemm_pk_isa() says.
 */
#include <cblas.h>
#include <string.h>

#include "base/cpu.h"
#include "base/tpool.h"
#include "base/vmath.h"
#include "onnx/gemm_nt.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

/* Least work (M*N*K) a thread's part of a GEMM holds: below twice this it runs on the calling
 * thread alone (on Zen 5 2^18 multiply-adds take 3-5 us, a fork/join ~1 us more, and a worker
 * that another process holds off the core stalls the join) */
#define GEMM_PAR_MIN (1 << 18)
/* Weights (N*K floats) from which a Gemm of fewer than 6 rows (a classifier at batch 1) reads
 * the packed panels, one stream of K x 16 floats each, rather than N rows of B */
#define GEMV_PK_MIN (1 << 18)

/* Rows a GEMM of few rows is counted as (gemm_parts): it streams all of B for them, from L3 or
 * DRAM when B is large, at several times a compute-bound GEMM's time per multiply-add (a batch-1
 * classifier's 512x1000 GEMV still splits, its rows of B read by two cores) */
#define GEMM_PAR_ROWS 4

/* parts for an (m, n, k) GEMM on nth threads: each holds at least GEMM_PAR_MIN multiply-adds,
 * m counted as at least GEMM_PAR_ROWS (BERT's 16x64 @ 64x256 feed-forward, 2^18, forked into
 * two halves of ~2.4 us each and kept the worker spinning through the run: 2 threads were
 * slower than 1) */
static int gemm_parts(int64_t m, int64_t n, int64_t k, int nth)
{
    double p = (double)(m > GEMM_PAR_ROWS ? m : GEMM_PAR_ROWS) * (double)n * (double)k / GEMM_PAR_MIN;
    return p < 2.0 ? 1 : p < (double)nth ? (int)p : nth;
}

struct sgemm_job {
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc;
    int by_rows;
};

static void sgemm_part(void *arg, int ith, int nth)
{
    struct sgemm_job *j = arg;
    int64_t total = j->by_rows ? j->m : j->n;
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth;
    if (hi <= lo)
        return;
    const float *a = j->a, *b = j->b;
    float *c = j->c;
    int64_t m = j->m, n = j->n;
    if (j->by_rows) {
        a += j->ta ? lo : lo * j->lda;
        c += lo * j->ldc;
        m = hi - lo;
    } else {
        b += j->tb ? lo * j->ldb : lo;
        c += lo;
        n = hi - lo;
    }
    cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)j->k, j->alpha, a, (int)j->lda, b, (int)j->ldb, j->beta, c, (int)j->ldc);
}

/* C (m,n) = alpha * op(A) @ op(B) + beta * C, row-major, split over the pool. */
void ox_sgemm(const struct ox_ctx *ctx, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, const float *b, float beta, float *c)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        for (int64_t i = 0; i < m * n; i++)
            c[i] = beta == 0.0f ? 0.0f : beta * c[i];
        return;
    }
    struct sgemm_job j = {ta, tb, m, n, k, alpha, beta, a, b, c, ta ? m : k, tb ? k : n, n, 1};
    int parts = gemm_parts(m, n, k, ctx->nth);
    if (parts <= 1) {
        sgemm_part(&j, 0, 1);
        return;
    }
    j.by_rows = m >= 4 * (int64_t)parts || m >= n;
    int64_t span = j.by_rows ? m : n;
    if (parts > span)
        parts = (int)span;
    tpool_parallel_for_n(ctx->pool, parts, sgemm_part, &j);
}

/* ---- packed constant weights (gemm_nt.h) ---- */

struct pk_job {
    struct ox_gemm_pk g;
    int64_t m, panels;
    int isa, by_cols;
};

static void pk_part(void *arg, int ith, int nth)
{
    struct pk_job *j = arg;
    if (j->by_cols) { /* pairs of panels: the AVX-512 kernel's 32-column blocks stay whole */
        int64_t pairs = (j->panels + 1) / 2;
        int64_t lo = pairs * ith / nth * 2, hi = pairs * (ith + 1) / nth * 2;
        hi = hi > j->panels ? j->panels : hi;
        if (hi > lo)
            ox_gemm_pk_run(j->isa, &j->g, 0, j->m, lo, hi);
        return;
    }
    int64_t mr = ox_gemm_pk_mr(j->isa), blocks = (j->m + mr - 1) / mr;
    int64_t lo = blocks * ith / nth * mr, hi = blocks * (ith + 1) / nth * mr;
    hi = hi > j->m ? j->m : hi;
    if (hi > lo)
        ox_gemm_pk_run(j->isa, &j->g, lo, hi, 0, j->panels);
}

/* C (m,n) = act(alpha * A (m,k) @ packed B (+ C) + bias), split over the pool when large:
 * by row blocks or by pairs of panels, whichever leaves the busiest thread less work. */
static void pk_run(const struct ox_ctx *ctx, int isa, const float *a, int64_t m, int64_t n, int64_t k, float alpha,
                   int accumulate, const float *bias, int gelu, float *c)
{
    struct pk_job j = {{a, ctx->packed, c, k, n, k, n, alpha, accumulate, bias, gelu}, m, ox_gemm_pk_panels(n), isa, 0};
    int parts = gemm_parts(m, n, k, ctx->nth);
    int64_t mr = ox_gemm_pk_mr(isa), blocks = (m + mr - 1) / mr, pairs = (j.panels + 1) / 2;
    if (parts > 1) {
        /* the busiest thread's share of rows / of columns */
        int64_t rows = (blocks + parts - 1) / parts * mr, cols = (pairs + parts - 1) / parts * 2 * OX_PK_NR;
        double share_r = (double)(rows < m ? rows : m) / (double)m;
        double share_c = (double)(cols < n ? cols : n) / (double)n;
        j.by_cols = share_c < share_r;
        int64_t span = j.by_cols ? pairs : blocks;
        if (parts > span)
            parts = (int)span;
    }
    if (parts <= 1)
        pk_part(&j, 0, 1);
    else
        tpool_parallel_for_n(ctx->pool, parts, pk_part, &j);
}

/* ---- Gemm ---- */

struct nt_job {
    struct ox_gemm_nt g;
    int64_t m, n;
    int avx2, by_rows;
};

static void nt_part(void *arg, int ith, int nth)
{
    struct nt_job *j = arg;
    int64_t total = j->by_rows ? j->m : j->n;
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth;
    if (j->by_rows) /* keep 4-row blocks whole */
        lo = (lo + 3) & ~(int64_t)3, hi = ith == nth - 1 ? hi : (hi + 3) & ~(int64_t)3;
    if (hi <= lo)
        return;
    int64_t m0 = j->by_rows ? lo : 0, m1 = j->by_rows ? hi : j->m;
    int64_t n0 = j->by_rows ? 0 : lo, n1 = j->by_rows ? j->n : hi;
    if (j->avx2)
        ox_gemm_nt_avx2(&j->g, m0, m1, n0, n1);
    else
        ox_gemm_nt_ref(&j->g, m0, m1, n0, n1);
}

static int gemm_prepare(struct ox_node *n, struct inferd_err *err)
{
    (void)err;
    n->ip[0] = ox_attr_int(n, "transA", 0) != 0;
    n->ip[1] = ox_attr_int(n, "transB", 0) != 0;
    n->fp[0] = ox_attr_float(n, "alpha", 1.0f);
    n->fp[1] = ox_attr_float(n, "beta", 1.0f);
    n->ip[2] = cpu_has(CPU_AVX2 | CPU_FMA) != 0;
    n->ip[3] = ox_gemm_pk_isa();
    return 0;
}

static int gemm_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    const struct ox_tensor *a = in[0], *b = in[1], *c = n->n_in > 2 ? in[2] : NULL;
    if (a->dt != INFERD_FP32 || b->dt != INFERD_FP32 || (c && c->dt != INFERD_FP32))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Gemm: only FP32 is supported");
    if (a->rank != 2 || b->rank != 2)
        return inferd_err_set(err, INFERD_ESHAPE, "Gemm: A and B must be 2-D (ranks %d, %d)", a->rank, b->rank);
    int64_t m = n->ip[0] ? a->dims[1] : a->dims[0], k = n->ip[0] ? a->dims[0] : a->dims[1];
    int64_t kb = n->ip[1] ? b->dims[1] : b->dims[0], nn = n->ip[1] ? b->dims[0] : b->dims[1];
    if (k != kb)
        return inferd_err_set(err, INFERD_ESHAPE, "Gemm: inner dims differ (%lld vs %lld)", (long long)k,
                              (long long)kb);
    if (m > INT32_MAX || nn > INT32_MAX || k > INT32_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "Gemm: dims above 2^31");
    if (c) {
        if (c->rank > 2 || (c->rank == 2 && ((c->dims[0] != 1 && c->dims[0] != m) || (c->dims[1] != 1 && c->dims[1] != nn))) ||
            (c->rank == 1 && c->dims[0] != 1 && c->dims[0] != nn))
            return inferd_err_set(err, INFERD_ESHAPE, "Gemm: C does not broadcast to (%lld,%lld)", (long long)m,
                                  (long long)nn);
    }
    int64_t dims[2] = {m, nn};
    return ox_set_shape(out[0], INFERD_FP32, 2, dims, err);
}

static int gemm_exec(const struct ox_ctx *ctx, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    (void)err;
    const struct ox_tensor *a = in[0], *b = in[1], *c = n->n_in > 2 ? in[2] : NULL;
    float *y = out[0]->data;
    int64_t m = out[0]->dims[0], nn = out[0]->dims[1];
    int64_t k = n->ip[0] ? a->dims[0] : a->dims[1];
    float beta = n->fp[1];
    if (c && beta != 0.0f && c->numel > 0) {
        const float *cv = c->data;
        int64_t rs = 0, cs = 0; /* strides of C over (m, n) */
        if (c->rank == 2) {
            rs = c->dims[0] == 1 ? 0 : c->dims[1];
            cs = c->dims[1] == 1 ? 0 : 1;
        } else if (c->rank == 1) {
            cs = c->dims[0] == 1 ? 0 : 1;
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t jj = 0; jj < nn; jj++)
                y[i * nn + jj] = beta * cv[i * rs + jj * cs];
    } else {
        beta = 0.0f;
    }
    if (ctx->packed && k > 0 && n->ip[3] && (m >= 6 || nn * k >= GEMV_PK_MIN)) { /* packed kernel */
        pk_run(ctx, (int)n->ip[3], a->data, m, nn, k, n->fp[0], beta != 0.0f, NULL, 0, y);
        return 0;
    }
    if (!n->ip[0] && n->ip[1] && (nn <= 512 || m < 6) && k > 0) { /* few rows: B read once, no copy */
        struct nt_job j = {{a->data, b->data, y, k, k, k, nn, n->fp[0], beta != 0.0f}, m, nn, (int)n->ip[2], 1};
        int parts = gemm_parts(m, nn, k, ctx->nth);
        j.by_rows = m >= 8 * (int64_t)parts;
        if (parts <= 1)
            nt_part(&j, 0, 1);
        else
            tpool_parallel_for_n(ctx->pool, parts, nt_part, &j);
        return 0;
    }
    ox_sgemm(ctx, (int)n->ip[0], (int)n->ip[1], m, nn, k, n->fp[0], a->data, b->data, beta != 0.0f ? 1.0f : 0.0f, y);
    return 0;
}

/* constant B with transA=0: packed once per plan */
static int64_t gemm_pack(const struct ox_node *n, struct ox_tensor *const *in, float *dst)
{
    const struct ox_tensor *b = in[1];
    if (n->ip[0] || !b->is_const || b->rank != 2 || b->numel == 0)
        return 0;
    int64_t k = n->ip[1] ? b->dims[1] : b->dims[0], nn = n->ip[1] ? b->dims[0] : b->dims[1];
    if (dst)
        ox_gemm_pack(b->data, k, nn, (int)n->ip[1], dst);
    return ox_gemm_pack_size(k, nn);
}

const struct ox_op ox_op_gemm = {
    .name = "Gemm", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .prepare = gemm_prepare, .infer = gemm_infer, .exec = gemm_exec, .pack = gemm_pack,
};

/* ---- MatMul ---- */

static int matmul_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    const struct ox_tensor *a = in[0], *b = in[1];
    if (a->dt != INFERD_FP32 || b->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "MatMul: only FP32 is supported");
    if (a->rank < 1 || b->rank < 1)
        return inferd_err_set(err, INFERD_ESHAPE, "MatMul: scalar operands");
    int64_t k = a->dims[a->rank - 1], kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (k != kb)
        return inferd_err_set(err, INFERD_ESHAPE, "MatMul: inner dims differ (%lld vs %lld)", (long long)k,
                              (long long)kb);
    /* batch dims */
    struct ox_tensor ba = {0}, bb = {0};
    ba.rank = a->rank > 2 ? a->rank - 2 : 0;
    bb.rank = b->rank > 2 ? b->rank - 2 : 0;
    memcpy(ba.dims, a->dims, (size_t)ba.rank * sizeof(int64_t));
    memcpy(bb.dims, b->dims, (size_t)bb.rank * sizeof(int64_t));
    int rank;
    int64_t dims[INFERD_MAX_RANK + 2];
    int rc = ox_broadcast_shape(&ba, &bb, &rank, dims, n, err);
    if (rc < 0)
        return rc;
    if (a->rank >= 2)
        dims[rank++] = a->dims[a->rank - 2];
    if (b->rank >= 2)
        dims[rank++] = b->dims[b->rank - 1];
    if (a->dims[a->rank - 1] > INT32_MAX || (a->rank >= 2 && a->dims[a->rank - 2] > INT32_MAX))
        return inferd_err_set(err, INFERD_ETOOLARGE, "MatMul: dims above 2^31");
    return ox_set_shape(out[0], INFERD_FP32, rank, dims, err);
}

static int matmul_exec(const struct ox_ctx *ctx, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    (void)n;
    (void)err;
    const struct ox_tensor *a = in[0], *b = in[1];
    struct ox_tensor *o = out[0];
    int64_t k = a->dims[a->rank - 1];
    int64_t m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
    int64_t nn = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    const float *av = a->data, *bv = b->data;
    float *ov = o->data;
    if (o->numel == 0)
        return 0;
    int brank = o->rank - (a->rank >= 2) - (b->rank >= 2);
    int64_t batch = 1;
    for (int d = 0; d < brank; d++)
        batch *= o->dims[d];
    int isa = ox_gemm_pk_isa();
    if (ctx->packed && k > 0 && batch * m >= 6 && isa) { /* constant 2-D B, packed */
        pk_run(ctx, isa, av, batch * m, nn, k, 1.0f, 0, NULL, 0, ov);
        return 0;
    }
    if (b->rank <= 2) { /* every batch of A against the same B: one tall GEMM */
        ox_sgemm(ctx, 0, 0, batch * m, nn, k, 1.0f, av, bv, 0.0f, ov);
        return 0;
    }
    /* element strides of A's and B's matrices over the broadcast batch dims */
    int64_t sa[INFERD_MAX_RANK] = {0}, sb[INFERD_MAX_RANK] = {0};
    int ra = a->rank > 2 ? a->rank - 2 : 0, rb = b->rank - 2;
    int64_t stra = m * k, strb = k * nn;
    for (int d = brank - 1; d >= 0; d--) {
        int da = d - (brank - ra), db = d - (brank - rb);
        int64_t la = da >= 0 ? a->dims[da] : 1, lb = db >= 0 ? b->dims[db] : 1;
        sa[d] = la == 1 ? 0 : stra;
        sb[d] = lb == 1 ? 0 : strb;
        stra *= la;
        strb *= lb;
    }
    for (int64_t bi = 0; bi < batch; bi++) {
        int64_t rem = bi, oa = 0, ob = 0;
        for (int d = brank - 1; d >= 0; d--) {
            int64_t c = rem % o->dims[d];
            rem /= o->dims[d];
            oa += c * sa[d];
            ob += c * sb[d];
        }
        ox_sgemm(ctx, 0, 0, m, nn, k, 1.0f, av + oa, bv + ob, 0.0f, ov + bi * m * nn);
    }
    return 0;
}

static int64_t matmul_pack(const struct ox_node *n, struct ox_tensor *const *in, float *dst)
{
    (void)n;
    const struct ox_tensor *b = in[1];
    if (!b->is_const || b->rank != 2 || b->numel == 0)
        return 0;
    if (dst)
        ox_gemm_pack(b->data, b->dims[0], b->dims[1], 0, dst);
    return ox_gemm_pack_size(b->dims[0], b->dims[1]);
}

const struct ox_op ox_op_matmul = {
    .name = "MatMul", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = matmul_infer, .exec = matmul_exec, .pack = matmul_pack,
};

/* ---- InferdMatMul: MatMul + bias [+ Gelu], made by fuse_transformer.c ----
 *   Y (.., M, N) = act(A (.., M, K) @ B (K, N) + bias (N)), act GELU when attribute gelu = 1 */

static int fmm_prepare(struct ox_node *n, struct inferd_err *err)
{
    (void)err;
    n->ip[0] = ox_attr_int(n, "gelu", 0) != 0;
    n->ip[1] = ox_gemm_pk_isa();
    return 0;
}

static int fmm_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    const struct ox_tensor *b = in[1], *bias = in[2];
    if (b->rank != 2 || bias->dt != INFERD_FP32 || bias->rank != 1 || bias->dims[0] != b->dims[1])
        return inferd_err_set(err, INFERD_ESHAPE, "InferdMatMul: B must be 2-D and the bias (N) FP32");
    return matmul_infer(n, in, out, err);
}

static int fmm_exec(const struct ox_ctx *ctx, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)err;
    const struct ox_tensor *a = in[0], *b = in[1], *bias = in[2];
    struct ox_tensor *o = out[0];
    int64_t k = a->dims[a->rank - 1], nn = b->dims[1];
    if (o->numel == 0)
        return 0;
    int64_t rows = o->numel / nn;
    const float *bv = bias->data;
    float *y = o->data;
    if (ctx->packed && k > 0 && n->ip[1]) {
        pk_run(ctx, (int)n->ip[1], a->data, rows, nn, k, 1.0f, 0, bv, (int)n->ip[0], y);
        return 0;
    }
    ox_sgemm(ctx, 0, 0, rows, nn, k, 1.0f, a->data, b->data, 0.0f, y);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < nn; j++)
            y[i * nn + j] += bv[j];
    if (n->ip[0])
        vmath_gelu(y, y, (size_t)o->numel);
    return 0;
}

const struct ox_op ox_op_inferd_matmul = {
    .name = "InferdMatMul", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .prepare = fmm_prepare, .infer = fmm_infer, .exec = fmm_exec, .pack = matmul_pack,
};
