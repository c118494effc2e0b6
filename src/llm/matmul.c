/* matmul.c — Y (n_tok, out) = X (n_tok, in) @ W^T over the thread pool. Threads claim
 * chunks of output rows. Two paths:
 *  - few tokens (generation, small continuous batches): the activations are quantized once
 *    to the weights' vec_dot_type and each (row, token) is one integer dot product, walked
 *    in tiles (TILE_T tokens x TILE_R rows) so a weight tile stays in cache;
 *    (Q8_0/Q4_0 use register tiles: 4 weight rows x 4 or 2 tokens per kernel call, the
 *    widths the CPU's kernel set has);
 *  - >= MM_BLAS_MIN_TOK tokens of a type without such tiles: each chunk of BLAS_ROWS weight rows is
 *    dequantized to f32 once and multiplied with all tokens by OpenBLAS's single-threaded
 *    sgemm (a register-blocked GEMM; the dequantization is amortised over the tokens). The
 *    activations are first rounded through the vec_dot_type (f16, Q8_0, Q8_K) and back, so
 *    both paths see the same inputs, as llama.cpp's do (it converts them before any GEMM);
 *  - F16 weights, >= MM_F16_GEMM_MIN_TOK tokens: the activations are rounded to f16 and
 *    packed once (blocks of tokens split over the threads), then each chunk of rows goes
 *    through the F16 GEMM (kernels/gemm_f16.h), which converts its weights panel by panel;
 *  - >= KERN_PANEL_MIN_TOK tokens of Q4_0, Q2_K..Q6_K (and Q8_0, except on AVX-512 without
 *    VNNI): panels of 16 (8) weight rows unpacked once and run against every token
 *    (kernels/panel.h). */
#include <cblas.h>
#include <stdatomic.h>

#include "base/tpool.h"
#include "llm/kernels/gemm_f16.h"
#include "llm/kernels/panel.h"
#include "llm/llm_int.h"

#define TILE_T 32
#define TILE_R 4
#define MM_MAX_JOBS 4
#define MM_BLAS_MIN_TOK 32
#define MM_F16_GEMM_MIN_TOK 8
/* dot4 (4 weight streams per thread) for up to this many tokens, on chunks of at least 4x
 * this many rows (shorter streams give the prefetcher nothing to follow) */
#define MM_DOT4_MAX_TOK 8
#define MM_DOT4_MIN_ROWS 8
#define MM_F16_CHUNK 48    /* rows per claimed chunk: whole 12- and 6-row kernel panels */
_Static_assert(BLAS_ROWS * 1 >= 16, "wf holds a KERN_GEMM_F16_SCRATCH panel per thread");
/* The panel GEMM's scratch (KERN_PANEL_SCRATCH) is the part's BLAS_ROWS x n_in float slice of wf. */
_Static_assert(BLAS_ROWS * sizeof(float) * 256 >= 8 * 16 * 36 + 16 * 360 + 64, "wf slice too small for a panel");
/* Below this many multiply-adds a job runs on the calling thread: waking the pool costs
 * more than it saves (tiny models, single rows). */
#define MM_PAR_MIN_WORK (1 << 17)

struct mm_args {
    const float *x;
    int n_tok;
    int64_t n_in;
    const struct kern_type *vk;        /* quantizer of the activations */
    unsigned char *xq;
    size_t xq_stride;
    const struct llm_mm_job *jobs[MM_MAX_JOBS];
    int64_t row0[MM_MAX_JOBS + 1];     /* first global row of each job */
    int n_jobs;
    int use_blas;
    const struct kern_gemm_f16 *gf16;  /* F16 GEMM path (xq holds the packed activations) */
    int use_panel;                     /* quantized path: types with a panel GEMM take it */
    unsigned char *aux;                /* use_panel: n_tok rows of aux_stride bytes, after the xq rows */
    size_t aux_stride;                 /* kern_panel_aux_bytes(vdt, n_in) */
    float *wf;                         /* BLAS path: per-part scratch, BLAS_ROWS x n_in floats */
    int64_t chunk_rows;                /* rows per claimed chunk (whole tiles or panels) */
    atomic_llong next_chunk;           /* next unclaimed chunk */
};

static void quant_part(void *ctx, int ith, int nth)
{
    struct mm_args *a = ctx;
    int t0 = (int)((int64_t)a->n_tok * ith / nth), t1 = (int)((int64_t)a->n_tok * (ith + 1) / nth);
    for (int t = t0; t < t1; t++) {
        a->vk->quantize_row(a->x + (size_t)t * a->n_in, a->xq + (size_t)t * a->xq_stride, a->n_in);
        if (a->use_panel)
            kern_panel_prep_row(a->vk->type, a->xq + (size_t)t * a->xq_stride, a->aux + (size_t)t * a->aux_stride,
                                a->n_in);
    }
}

/* F16 GEMM path: the part's share of the blocks of KERN_GEMM_F16_TB tokens -> packed
 * activations in xq (each block's place does not depend on the others'). */
static void pack_part(void *ctx, int ith, int nth)
{
    struct mm_args *a = ctx;
    int nb = (a->n_tok + KERN_GEMM_F16_TB - 1) / KERN_GEMM_F16_TB;
    int b0 = (int)((int64_t)nb * ith / nth), b1 = (int)((int64_t)nb * (ith + 1) / nth);
    int t0 = b0 * KERN_GEMM_F16_TB, t1 = b1 * KERN_GEMM_F16_TB < a->n_tok ? b1 * KERN_GEMM_F16_TB : a->n_tok;
    if (t0 < t1)
        a->gf16->pack(a->x + (size_t)t0 * a->n_in, (size_t)a->n_in, t1 - t0, a->n_in,
                      (float *)a->xq + (size_t)b0 * KERN_GEMM_F16_TB * a->n_in);
}

/* BLAS path: x rows -> vec_dot_type -> f32 rows in xq (the part's wf slice holds one
 * quantized row; wf is free until mm_part runs). */
static void round_part(void *ctx, int ith, int nth)
{
    struct mm_args *a = ctx;
    unsigned char *tmp = (unsigned char *)(a->wf + (size_t)ith * BLAS_ROWS * a->n_in);
    int t0 = (int)((int64_t)a->n_tok * ith / nth), t1 = (int)((int64_t)a->n_tok * (ith + 1) / nth);
    for (int t = t0; t < t1; t++) {
        a->vk->quantize_row(a->x + (size_t)t * a->n_in, tmp, a->n_in);
        a->vk->dequant_row(tmp, (float *)(a->xq + (size_t)t * a->xq_stride), a->n_in);
    }
}

/* Rows [r0, r1) of one job, all tokens: 4x2 register tiles where the type has them, else
 * one dot product per (row, token). */
static void mm_rows(const struct mm_args *a, const struct llm_mm_job *j, int64_t r0, int64_t r1, int ith)
{
    const struct llm_weight *w = j->w;
    const struct kern_panel *p = a->use_panel ? kern_get_panel(w->type) : NULL;
    for (; p && r0 + p->rows <= r1; r0 += p->rows) /* the part's wf slice is the panel scratch */
        p->gemm(a->n_in, (const unsigned char *)w->data + (size_t)r0 * w->row_bytes, w->row_bytes, a->xq,
                a->xq_stride, a->aux, j->y + r0, (size_t)j->ldy, a->n_tok, a->wf + (size_t)ith * BLAS_ROWS * a->n_in);
    kern_dot_fn dot = w->k->vec_dot;
    const struct kern_tiles *tl = kern_get_tiles(w->type);
    kern_gemm4x2_fn g = w->k->gemm4x2, g4 = tl->gemm4x4;
    kern_gemm4xn_fn gn = tl->gemm4xn;
    const unsigned char *wd = w->data;
    /* few tokens and no tile for them: 4 sequential weight streams (the rows' quarters) */
    if (tl->dot4 && (a->n_tok < 4 || (!gn && !g4 && !g)) && a->n_tok <= MM_DOT4_MAX_TOK &&
        r1 - r0 >= 4 * MM_DOT4_MIN_ROWS) {
        int64_t q = (r1 - r0) / 4;
        for (int64_t i = 0; i < q; i++)
            for (int t = 0; t < a->n_tok; t++)
                tl->dot4(a->n_in, wd + (size_t)(r0 + i) * w->row_bytes, (size_t)q * w->row_bytes,
                         a->xq + (size_t)t * a->xq_stride, j->y + (size_t)t * j->ldy + r0 + i, (size_t)q);
        r0 += 4 * q;
    }
    for (int t0 = 0; t0 < a->n_tok; t0 += TILE_T) {
        int t1 = t0 + TILE_T < a->n_tok ? t0 + TILE_T : a->n_tok;
        for (int64_t r = r0; r < r1; r += TILE_R) {
            int64_t re = r + TILE_R < r1 ? r + TILE_R : r1;
            int t = t0;
            const unsigned char *wr = wd + (size_t)r * w->row_bytes;
#define MM_TILE(fn, nt)                                                                                   \
    for (; t + (nt) <= t1; t += (nt))                                                                     \
        fn(a->n_in, wr, w->row_bytes, a->xq + (size_t)t * a->xq_stride, a->xq_stride,                      \
           j->y + (size_t)t * j->ldy + r, (size_t)j->ldy);
            if (gn && re - r == 4)
                t += gn(a->n_in, wr, w->row_bytes, a->xq + (size_t)t * a->xq_stride, a->xq_stride,
                        j->y + (size_t)t * j->ldy + r, (size_t)j->ldy, t1 - t);
            if (g4 && re - r == 4)
                MM_TILE(g4, 4)
            if (g && re - r == 4)
                MM_TILE(g, 2)
#undef MM_TILE
            for (; t < t1; t++) {
                const unsigned char *xq = a->xq + (size_t)t * a->xq_stride;
                float *y = j->y + (size_t)t * j->ldy;
                for (int64_t rr = r; rr < re; rr++)
                    dot(a->n_in, &y[rr], wd + (size_t)rr * w->row_bytes, xq);
            }
        }
    }
}

/* Rows [r0, r1) of one job through sgemm: Y[:, r0:r1] = X @ Wf^T with Wf the dequantized
 * rows (F32 weights are used in place). */
static void mm_rows_blas(const struct mm_args *a, const struct llm_mm_job *j, int64_t r0, int64_t r1, int ith)
{
    const struct llm_weight *w = j->w;
    float *wf = a->wf + (size_t)ith * BLAS_ROWS * a->n_in;
    for (int64_t r = r0; r < r1; r += BLAS_ROWS) {
        int64_t nr = r1 - r < BLAS_ROWS ? r1 - r : BLAS_ROWS;
        const float *wp = wf;
        if (w->type == GGML_TYPE_F32)
            wp = (const float *)((const unsigned char *)w->data + (size_t)r * w->row_bytes);
        else
            for (int64_t i = 0; i < nr; i++)
                w->k->dequant_row((const unsigned char *)w->data + (size_t)(r + i) * w->row_bytes,
                                  wf + (size_t)i * a->n_in, a->n_in);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->n_tok, (int)nr, (int)a->n_in, 1.f,
                    (const float *)a->xq, (int)(a->xq_stride / sizeof(float)), wp, (int)a->n_in, 0.f, j->y + r,
                    j->ldy);
    }
}

/* Threads claim of output rows until none is left: a thread the OS preempts holds
 * up at most one chunk, and the others take the rest. */
static void mm_part(void *ctx, int ith, int nth)
{
    struct mm_args *a = ctx;
    int64_t total = a->row0[a->n_jobs];
    (void)nth;
    for (;;) {
        int64_t g0 = atomic_fetch_add_explicit(&a->next_chunk, 1, memory_order_relaxed) * a->chunk_rows;
        if (g0 >= total)
            return;
        int64_t g1 = g0 + a->chunk_rows < total ? g0 + a->chunk_rows : total;
        for (int i = 0; i < a->n_jobs; i++) {
            int64_t s = a->row0[i] > g0 ? a->row0[i] : g0, e = a->row0[i + 1] < g1 ? a->row0[i + 1] : g1;
            if (s < e && a->gf16)
                a->gf16->gemm(a->n_in, (const unsigned char *)a->jobs[i]->w->data +
                                           (size_t)(s - a->row0[i]) * a->jobs[i]->w->row_bytes,
                              a->jobs[i]->w->row_bytes, (int)(e - s), (const float *)a->xq, a->n_tok,
                              a->jobs[i]->y + (s - a->row0[i]), (size_t)a->jobs[i]->ldy,
                              a->wf + (size_t)ith * BLAS_ROWS * a->n_in);
            else if (s < e && a->use_blas)
                mm_rows_blas(a, a->jobs[i], s - a->row0[i], e - a->row0[i], ith);
            else if (s < e)
                mm_rows(a, a->jobs[i], s - a->row0[i], e - a->row0[i], ith);
        }
    }
}

void llm_matmul(struct inferd_llm_ctx *c, const float *x, int n_tok, const struct llm_mm_job *jobs,
                int n_jobs)
{
    int done[MM_MAX_JOBS * 4] = {0};
    for (int first = 0; first < n_jobs; first++) {
        if (done[first])
            continue;
        struct mm_args a = {.x = x, .n_tok = n_tok, .n_in = jobs[first].w->ne0};
        enum ggml_type vdt = jobs[first].w->k->vec_dot_type;
        a.vk = kern_get(vdt);
        for (int i = first; i < n_jobs && a.n_jobs < MM_MAX_JOBS; i++) {
            if (done[i] || jobs[i].w->k->vec_dot_type != vdt)
                continue;
            done[i] = 1;
            a.jobs[a.n_jobs] = &jobs[i];
            a.row0[a.n_jobs + 1] = a.row0[a.n_jobs] + jobs[i].w->ne1;
            a.n_jobs++;
        }
        /* types with an integer 4x2 tile stay on the quantized path, and so do Q8_K groups
         * whose every type has a panel GEMM (Q2_K..Q6_K); the others (F32, F16, BF16, IQ4_XS)
         * go through sgemm for large batches */
        int k_panels = vdt == GGML_TYPE_Q8_K && n_tok >= KERN_PANEL_MIN_TOK;
        for (int i = 0; i < a.n_jobs; i++)
            k_panels &= kern_get_panel(a.jobs[i]->w->type) != NULL;
        a.use_blas = n_tok >= MM_BLAS_MIN_TOK && !jobs[first].w->k->gemm4x2 &&
                     !kern_get_tiles(jobs[first].w->type)->gemm4x4 && !k_panels;
        a.wf = c->wf;
        if (vdt == GGML_TYPE_F16 && n_tok >= MM_F16_GEMM_MIN_TOK && a.n_in % KERN_GEMM_F16_TB == 0 &&
            kern_gemm_f16_xp_floats(n_tok, a.n_in) * sizeof(float) <= (size_t)c->n_batch * c->xq_stride)
            a.gf16 = kern_get_gemm_f16();
        if (a.gf16) {
            a.use_blas = 0;
            a.xq = c->xq; /* packed blocks of f16-rounded activations */
            if ((int64_t)n_tok * a.n_in < MM_PAR_MIN_WORK)
                pack_part(&a, 0, 1);
            else
                llm_par_run(c, pack_part, &a);
        } else if (vdt == GGML_TYPE_F32) {
            a.xq = (unsigned char *)(uintptr_t)x; /* read only: F32 rows are used as they are */
            a.xq_stride = (size_t)a.n_in * sizeof(float);
        } else if (a.use_blas) {
            a.xq = c->xq; /* f32 rows rounded through vdt */
            a.xq_stride = (size_t)a.n_in * sizeof(float);
            if ((int64_t)n_tok * a.n_in < MM_PAR_MIN_WORK)
                round_part(&a, 0, 1);
            else
                llm_par_run(c, round_part, &a);
        } else {
            a.xq = c->xq;
            a.xq_stride = ggml_row_size(vdt, a.n_in);
            for (int i = 0; i < a.n_jobs && n_tok >= KERN_PANEL_MIN_TOK && vdt != GGML_TYPE_Q8_K; i++)
                a.use_panel |= kern_get_panel(a.jobs[i]->w->type) != NULL;
            a.use_panel |= k_panels;
            /* c->xq holds 4 bytes per element: the Q8_0 rows take 34/32, their aux 40/32;
             * Q8_K rows 292/256, their aux 112/256 */
            a.aux = c->xq + ((size_t)n_tok * a.xq_stride + 15) / 16 * 16;
            a.aux_stride = kern_panel_aux_bytes(vdt, a.n_in);
            if ((int64_t)n_tok * a.n_in < MM_PAR_MIN_WORK)
                quant_part(&a, 0, 1);
            else
                llm_par_run(c, quant_part, &a);
        }
        /* about 8 chunks per thread, whole tiles; dot4's streams are a chunk's quarters and
         * longer ones stream faster (bench/gemv_bench -chunk), so it takes 4 per thread, and
         * one thread takes all rows at once */
        int nth = llm_par_threads(c), per_thread = 8;
        for (int i = 0; i < a.n_jobs && n_tok <= MM_DOT4_MAX_TOK && !a.use_panel && !a.use_blas && !a.gf16; i++)
            if (kern_get_tiles(a.jobs[i]->w->type)->dot4)
                per_thread = nth == 1 ? 1 : 4;
        int64_t total = a.row0[a.n_jobs], per = total / (per_thread * nth) + 1;
        int tile_r = a.use_panel ? 16 : TILE_R; /* whole panels */
        a.chunk_rows = (per + tile_r - 1) / tile_r * tile_r;
        if (a.use_blas)
            a.chunk_rows = BLAS_ROWS;
        if (a.gf16)
            a.chunk_rows = MM_F16_CHUNK;
        atomic_init(&a.next_chunk, 0);
        if (total * a.n_in * n_tok < MM_PAR_MIN_WORK)
            mm_part(&a, 0, 1);
        else
            llm_par_run(c, mm_part, &a);
    }
}
