/* einsum.c — Einsum: any equation of letters with an optional `...`, explicit (`->`) or
 * implicit output; repeated letters in one operand take diagonals, letters missing from the
 * output are summed. FP32 (accumulated in double) and FP64.
 *
 *   "bij,bjk->bik": X (b,i,j), Y (b,j,k) -> (b,i,k)      "ij->ji", "i,i", "...ii->...i"
 *
 * The kernel walks every output element and, inside it, every combination of the summed
 * labels; each operand's offset is a dot of the label indices with per-label strides (a
 * label repeated in one operand adds its strides, which reads the diagonal). FP32 products
 * of two operands whose labels are each batch (in both and the output), M (first and
 * output), N (second and output) or K (both, summed) — matmul, batch matmul, attention
 * scores "bhqd,bhkd->bhqk", outer products — are regrouped into (batch, M, K) @ (batch, K, N)
 * in the step's scratch and run through ox_sgemm instead.
 */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

#define EIN_MAX_OPS 8
#define EIN_MAX_LABELS 64 /* 52 letters + ellipsis dims */

struct ein {
    int n_ops, n_labels, n_out, n_sum;
    int op_rank[EIN_MAX_OPS];
    int op_lab[EIN_MAX_OPS][INFERD_MAX_RANK]; /* label of each axis of each operand */
    int out_lab[INFERD_MAX_RANK];
    int sum_lab[EIN_MAX_LABELS];
    int64_t dim[EIN_MAX_LABELS];
    int64_t stride[EIN_MAX_OPS][EIN_MAX_LABELS]; /* element stride of each label per operand */
};

static int letter_id(char ch)
{
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a';
    if (ch >= 'A' && ch <= 'Z')
        return 26 + ch - 'A';
    return -1;
}

/* Parses one term ("bij", "...ii") of an operand of rank `rank` (or of the output when rank
 * < 0) into labels; ellipsis dims get labels 52.. (right-aligned, shared by all operands). */
static int parse_term(const char *s, size_t len, int rank, int n_ell, int *lab, int *n_lab,
                      struct inferd_err *err)
{
    int k = 0, letters = 0, has_ell = 0;
    for (size_t i = 0; i < len; i++)
        letters += letter_id(s[i]) >= 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ')
            continue;
        if (s[i] == '.') {
            if (i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.' || has_ell)
                return inferd_err_set(err, INFERD_EINVAL, "Einsum: attribute 'equation' has a malformed '...'");
            has_ell = 1;
            int ne = rank >= 0 ? rank - letters : n_ell;
            if (ne < 0 || (rank >= 0 && ne > n_ell))
                return inferd_err_set(err, INFERD_ESHAPE, "Einsum: operand rank %d does not fit its subscripts", rank);
            for (int e = 0; e < ne; e++) {
                if (k >= INFERD_MAX_RANK)
                    goto too_many;
                lab[k++] = 52 + (n_ell - ne) + e;
            }
            i += 2;
            continue;
        }
        int id = letter_id(s[i]);
        if (id < 0)
            return inferd_err_set(err, INFERD_EINVAL, "Einsum: attribute 'equation' has the character '%c'", s[i]);
        if (k >= INFERD_MAX_RANK)
            goto too_many;
        lab[k++] = id;
    }
    if (rank >= 0 && k != rank)
        return inferd_err_set(err, INFERD_ESHAPE, "Einsum: operand of rank %d has %d subscripts", rank, k);
    *n_lab = k;
    return 0;
too_many:
    return inferd_err_set(err, INFERD_EUNSUPPORTED, "Einsum: more than %d subscripts in one term", INFERD_MAX_RANK);
}

static int ein_parse(const struct ox_node *n, struct ox_tensor *const *in, struct ein *e, struct inferd_err *err)
{
    const struct ox_attr *a = ox_attr_find(n, "equation");
    if (!a || !a->s)
        return inferd_err_set(err, INFERD_EFORMAT, "Einsum: attribute 'equation' is required");
    if (n->n_in > EIN_MAX_OPS)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Einsum: more than %d operands", EIN_MAX_OPS);
    memset(e, 0, sizeof *e);
    e->n_ops = n->n_in;
    const char *eq = a->s, *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    /* ellipsis width: the largest over operands */
    int n_ell = 0, count[EIN_MAX_LABELS] = {0};
    const char *p = eq;
    for (int i = 0; i < e->n_ops; i++) {
        const char *end = memchr(p, ',', lhs_len - (size_t)(p - eq));
        size_t len = end ? (size_t)(end - p) : lhs_len - (size_t)(p - eq);
        if (!end && i + 1 < e->n_ops)
            return inferd_err_set(err, INFERD_EINVAL, "Einsum: equation has fewer terms than the %d inputs", e->n_ops);
        int letters = 0;
        for (size_t k = 0; k < len; k++)
            letters += letter_id(p[k]) >= 0;
        if (memchr(p, '.', len) && in[i]->rank - letters > n_ell)
            n_ell = in[i]->rank - letters;
        p = end ? end + 1 : p + len;
    }
    p = eq;
    for (int i = 0; i < EIN_MAX_LABELS; i++)
        e->dim[i] = -1;
    for (int i = 0; i < e->n_ops; i++) {
        const char *end = memchr(p, ',', lhs_len - (size_t)(p - eq));
        size_t len = end ? (size_t)(end - p) : lhs_len - (size_t)(p - eq);
        int rc = parse_term(p, len, in[i]->rank, n_ell, e->op_lab[i], &e->op_rank[i], err);
        if (rc < 0)
            return rc;
        if (in[i]->dt != in[0]->dt)
            return inferd_err_set(err, INFERD_ETYPE, "Einsum: inputs differ in dtype");
        int64_t s = 1;
        for (int d = in[i]->rank - 1; d >= 0; d--) {
            int l = e->op_lab[i][d];
            int64_t dd = in[i]->dims[d];
            if (e->dim[l] < 0 || e->dim[l] == 1)
                e->dim[l] = dd;
            else if (dd != 1 && dd != e->dim[l])
                return inferd_err_set(err, INFERD_ESHAPE, "Einsum: subscript of input %d has dim %lld, elsewhere %lld",
                                      i, (long long)dd, (long long)e->dim[l]);
            if (dd != 1 || l < 52) /* a broadcast ellipsis dim of 1 reads index 0 */
                e->stride[i][l] += s;
            count[l]++;
            s *= dd;
        }
        p = end ? end + 1 : p + len;
    }
    /* broadcast ellipsis dims of size 1 in an operand whose label is wider: stride 0 */
    for (int i = 0; i < e->n_ops; i++)
        for (int d = 0; d < in[i]->rank; d++)
            if (in[i]->dims[d] == 1 && e->dim[e->op_lab[i][d]] != 1)
                e->stride[i][e->op_lab[i][d]] = 0;
    int in_out[EIN_MAX_LABELS] = {0};
    if (arrow) {
        int rc = parse_term(arrow + 2, strlen(arrow + 2), -1, n_ell, e->out_lab, &e->n_out, err);
        if (rc < 0)
            return rc;
        for (int k = 0; k < e->n_out; k++) {
            if (e->dim[e->out_lab[k]] < 0)
                return inferd_err_set(err, INFERD_EINVAL, "Einsum: output subscript is not in any input");
            if (in_out[e->out_lab[k]]++)
                return inferd_err_set(err, INFERD_EINVAL, "Einsum: output repeats a subscript");
        }
    } else { /* implicit: ellipsis dims, then letters seen once, in alphabetical order */
        for (int l = 52; l < 52 + n_ell; l++)
            e->out_lab[e->n_out++] = l, in_out[l] = 1;
        for (int l = 0; l < 52; l++)
            if (count[l] == 1) {
                if (e->n_out >= INFERD_MAX_RANK)
                    return inferd_err_set(err, INFERD_EUNSUPPORTED, "Einsum: output rank above %d", INFERD_MAX_RANK);
                e->out_lab[e->n_out++] = l, in_out[l] = 1;
            }
    }
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        if (e->dim[l] >= 0 && !in_out[l])
            e->sum_lab[e->n_sum++] = l;
    return 0;
}

static int einsum_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    struct ein e = {0};
    int rc = ein_parse(n, in, &e, err);
    if (rc < 0)
        return rc;
    if (in[0]->dt != INFERD_FP32 && in[0]->dt != INFERD_FP64)
        return inferd_err_set(err, INFERD_ETYPE, "Einsum: inputs must be FP32 or FP64");
    int64_t dims[INFERD_MAX_RANK];
    for (int k = 0; k < e.n_out; k++)
        dims[k] = e.dim[e.out_lab[k]];
    return ox_set_shape(out[0], in[0]->dt, e.n_out, dims, err);
}

/* The GEMM form of a 2-operand FP32 einsum: label lists per role and their sizes. */
struct ein_gemm {
    int lb[EIN_MAX_LABELS], lm[EIN_MAX_LABELS], ln[EIN_MAX_LABELS], lk[EIN_MAX_LABELS];
    int nb, nm, nn, nk;
    int64_t B, M, N, K;
};

/* Fills g and returns 1 when e is a (batched) matrix product without diagonals, broadcasts
 * or one-sided sums; else 0. */
static int ein_gemm_form(const struct ein *e, struct ox_tensor *const *in, struct ein_gemm *g)
{
    if (e->n_ops != 2 || in[0]->dt != INFERD_FP32)
        return 0;
    int where[EIN_MAX_LABELS] = {0}; /* bit 0: A, bit 1: B, bit 2: output */
    for (int i = 0; i < 2; i++)
        for (int d = 0; d < in[i]->rank; d++) {
            int l = e->op_lab[i][d];
            if ((where[l] & (1 << i)) || in[i]->dims[d] != e->dim[l])
                return 0; /* diagonal or broadcast */
            where[l] |= 1 << i;
        }
    for (int k = 0; k < e->n_out; k++)
        where[e->out_lab[k]] |= 4;
    memset(g, 0, sizeof *g);
    g->B = g->M = g->N = g->K = 1;
    /* roles in the output's order for batch/M/N (so the result scatters back in runs) */
    for (int k = 0; k < e->n_out; k++) {
        int l = e->out_lab[k];
        if (where[l] == 7)
            g->lb[g->nb++] = l, g->B *= e->dim[l];
        else if (where[l] == 5)
            g->lm[g->nm++] = l, g->M *= e->dim[l];
        else if (where[l] == 6)
            g->ln[g->nn++] = l, g->N *= e->dim[l];
    }
    for (int l = 0; l < EIN_MAX_LABELS; l++) {
        if (where[l] == 3)
            g->lk[g->nk++] = l, g->K *= e->dim[l];
        else if (where[l] == 1 || where[l] == 2)
            return 0; /* summed over one operand only */
    }
    return g->M * g->K + g->K * g->N > 0;
}

/* Copies src's elements into dst in the order of labels labs[0..nl) (the last fastest). */
static void ein_gather(const float *src, const int64_t *stride, const int *labs, int nl, const int64_t *dim,
                       float *dst, int64_t count)
{
    int64_t idx[EIN_MAX_LABELS] = {0}, off = 0;
    for (int64_t i = 0; i < count; i++) {
        dst[i] = src[off];
        for (int k = nl - 1; k >= 0; k--) {
            off += stride[labs[k]];
            if (++idx[k] < dim[labs[k]])
                break;
            off -= idx[k] * stride[labs[k]];
            idx[k] = 0;
        }
    }
}

static size_t einsum_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)out;
    struct ein e = {0};
    struct ein_gemm g;
    if (ein_parse(n, in, &e, NULL) < 0 || !ein_gemm_form(&e, in, &g))
        return 0;
    return (size_t)(g.B * (g.M * g.K + g.K * g.N + g.M * g.N)) * sizeof(float) + 64;
}

static void einsum_gemm(const struct ox_ctx *c, const struct ein *e, const struct ein_gemm *g,
                        struct ox_tensor *const *in, struct ox_tensor *y)
{
    float *a = c->scratch, *b = a + g->B * g->M * g->K, *cc = b + g->B * g->K * g->N;
    int la[EIN_MAX_LABELS], lbb[EIN_MAX_LABELS], lc[EIN_MAX_LABELS], na = 0, nb = 0, nc = 0;
    for (int k = 0; k < g->nb; k++)
        la[na++] = lbb[nb++] = lc[nc++] = g->lb[k];
    for (int k = 0; k < g->nm; k++)
        la[na++] = lc[nc++] = g->lm[k];
    for (int k = 0; k < g->nk; k++)
        la[na++] = g->lk[k];
    for (int k = 0; k < g->nk; k++)
        lbb[nb++] = g->lk[k];
    for (int k = 0; k < g->nn; k++)
        lbb[nb++] = lc[nc++] = g->ln[k];
    ein_gather(in[0]->data, e->stride[0], la, na, e->dim, a, g->B * g->M * g->K);
    ein_gather(in[1]->data, e->stride[1], lbb, nb, e->dim, b, g->B * g->K * g->N);
    for (int64_t bt = 0; bt < g->B; bt++)
        ox_sgemm(c, 0, 0, g->M, g->N, g->K, 1.0f, a + bt * g->M * g->K, b + bt * g->K * g->N, 0.0f,
                 cc + bt * g->M * g->N);
    /* (batch, M, N) -> the output's label order: gather from cc with per-label strides */
    int64_t cs[EIN_MAX_LABELS] = {0}, st = 1;
    for (int k = nc - 1; k >= 0; k--) {
        cs[lc[k]] = st;
        st *= e->dim[lc[k]];
    }
    ein_gather(cc, cs, e->out_lab, e->n_out, e->dim, y->data, y->numel);
}

static int einsum_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    struct ein e = {0};
    struct ein_gemm g;
    int rc = ein_parse(n, in, &e, err);
    if (rc < 0)
        return rc;
    if (c && c->scratch && ein_gemm_form(&e, in, &g)) {
        einsum_gemm(c, &e, &g, in, out[0]);
        return 0;
    }
    int f32 = in[0]->dt == INFERD_FP32;
    int64_t oi[INFERD_MAX_RANK] = {0}, si[EIN_MAX_LABELS], n_inner = 1;
    for (int k = 0; k < e.n_sum; k++)
        n_inner *= e.dim[e.sum_lab[k]];
    for (int64_t o = 0; o < out[0]->numel; o++) {
        int64_t base[EIN_MAX_OPS];
        for (int i = 0; i < e.n_ops; i++) {
            base[i] = 0;
            for (int k = 0; k < e.n_out; k++)
                base[i] += oi[k] * e.stride[i][e.out_lab[k]];
        }
        double acc = 0;
        memset(si, 0, sizeof si);
        for (int64_t r = 0; r < n_inner; r++) {
            double prod = 1;
            for (int i = 0; i < e.n_ops; i++) {
                int64_t off = base[i];
                for (int k = 0; k < e.n_sum; k++)
                    off += si[k] * e.stride[i][e.sum_lab[k]];
                prod *= f32 ? ((const float *)in[i]->data)[off] : ((const double *)in[i]->data)[off];
            }
            acc += prod;
            for (int k = e.n_sum - 1; k >= 0; k--) {
                if (++si[k] < e.dim[e.sum_lab[k]])
                    break;
                si[k] = 0;
            }
        }
        if (f32)
            ((float *)out[0]->data)[o] = (float)acc;
        else
            ((double *)out[0]->data)[o] = acc;
        for (int k = e.n_out - 1; k >= 0; k--) {
            if (++oi[k] < e.dim[e.out_lab[k]])
                break;
            oi[k] = 0;
        }
    }
    return 0;
}

const struct ox_op ox_op_einsum = {
    .name = "Einsum", .min_in = 1, .max_in = EIN_MAX_OPS, .min_out = 1, .max_out = 1,
    .infer = einsum_infer, .exec = einsum_exec, .scratch = einsum_scratch,
};
