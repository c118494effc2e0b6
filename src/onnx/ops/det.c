/* det.c — Det: the determinant of each trailing square matrix, by LU decomposition with
 * partial pivoting in double (FP32 / FP64 in and out).
 *
 *   X (..., M, M) -> Y (...)
 */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int det_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    (void)n;
    const struct ox_tensor *x = in[0];
    if (x->dt != INFERD_FP32 && x->dt != INFERD_FP64)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Det: only FP32 and FP64 are supported");
    if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
        return inferd_err_set(err, INFERD_ESHAPE, "Det: input must be (..., M, M)");
    if (x->dims[x->rank - 1] > 4096)
        return inferd_err_set(err, INFERD_ETOOLARGE, "Det: matrices above 4096 x 4096 are not supported");
    return ox_set_shape(out[0], x->dt, x->rank - 2, x->dims, err);
}

/* scratch: one M x M matrix in double */
static size_t det_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)n;
    (void)out;
    int64_t m = in[0]->dims[in[0]->rank - 1];
    return (size_t)(m * m) * sizeof(double);
}

static int det_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)n;
    (void)err;
    const struct ox_tensor *x = in[0];
    int64_t m = x->dims[x->rank - 1];
    double *a = c->scratch;
    for (int64_t k = 0; k < out[0]->numel; k++) {
        for (int64_t i = 0; i < m * m; i++)
            a[i] = ox_get_f64(x, k * m * m + i);
        double det = 1;
        for (int64_t col = 0; col < m && det != 0; col++) {
            int64_t p = col;
            for (int64_t r = col + 1; r < m; r++)
                if (fabs(a[r * m + col]) > fabs(a[p * m + col]))
                    p = r;
            if (a[p * m + col] == 0) {
                det = 0;
                break;
            }
            if (p != col) {
                for (int64_t j = 0; j < m; j++) {
                    double t = a[col * m + j];
                    a[col * m + j] = a[p * m + j];
                    a[p * m + j] = t;
                }
                det = -det;
            }
            det *= a[col * m + col];
            for (int64_t r = col + 1; r < m; r++) {
                double f = a[r * m + col] / a[col * m + col];
                for (int64_t j = col; j < m; j++)
                    a[r * m + j] -= f * a[col * m + j];
            }
        }
        ox_put_f64(out[0], k, det);
    }
    return 0;
}

const struct ox_op ox_op_det = {
    .name = "Det", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = det_infer, .exec = det_exec, .scratch = det_scratch,
};
