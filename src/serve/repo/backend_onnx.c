/* backend_onnx.c — the ONNX backend: the repository's view of include/inferd/onnx.h. */
#include "serve/repo/backend.h"

#include "base/log.h"
#include "inferd/onnx.h"
#include "serve/repo/repo_config.h"

#include <jansson.h>

#include <stdio.h>
#include <string.h>

/* config.json "graph_optimizations": false (none), or an object switching each load-time
 * rewrite: {"constant_folding", "identity", "batchnorm", "dead_nodes", "fusion", "layernorm",
 * "gelu", "transpose", "attention", "shape_folding", "qdq", "in_place", "matmul_bias", "winograd", "conv_residual", "mbconv",
 * "squeeze_excite", "stem_depthwise"} (true by default). */
static int graph_opts(const struct model_config *cfg, unsigned *off, struct inferd_err *err)
{
    static const struct { const char *key; unsigned bit; } sw[] = {
        {"constant_folding", INFERD_ONNX_OPT_FOLD}, {"identity", INFERD_ONNX_OPT_IDENTITY},
        {"batchnorm", INFERD_ONNX_OPT_BN}, {"dead_nodes", INFERD_ONNX_OPT_DCE}, {"fusion", INFERD_ONNX_OPT_FUSE},
        {"layernorm", INFERD_ONNX_OPT_LAYERNORM}, {"gelu", INFERD_ONNX_OPT_GELU}, {"transpose", INFERD_ONNX_OPT_TRANSPOSE},
        {"attention", INFERD_ONNX_OPT_ATTENTION}, {"shape_folding", INFERD_ONNX_OPT_SHAPE},
        {"qdq", INFERD_ONNX_OPT_QDQ}, {"in_place", INFERD_ONNX_OPT_INPLACE},
        {"matmul_bias", INFERD_ONNX_OPT_MATMUL}, {"winograd", INFERD_ONNX_OPT_WINOGRAD},
        {"conv_residual", INFERD_ONNX_OPT_CONV_SUM}, {"mbconv", INFERD_ONNX_OPT_MBCONV},
        {"squeeze_excite", INFERD_ONNX_OPT_SE}, {"stem_depthwise", INFERD_ONNX_OPT_STEMDW}};
    const json_t *g = cfg && cfg->json ? json_object_get(cfg->json, "graph_optimizations") : NULL;
    *off = 0;
    if (!g || json_is_true(g))
        return 0;
    if (json_is_false(g)) {
        *off = INFERD_ONNX_OPT_ALL;
        return 0;
    }
    if (!json_is_object(g))
        return inferd_err_set(err, INFERD_EINVAL, "config.json: graph_optimizations: not true, false or an object");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)g, k, v) {
        size_t i = 0;
        while (i < sizeof sw / sizeof *sw && strcmp(sw[i].key, k) != 0)
            i++;
        if (i == sizeof sw / sizeof *sw)
            return inferd_err_set(err, INFERD_EINVAL,
                                  "config.json: graph_optimizations.%s: unknown (constant_folding, identity, batchnorm, "
                                  "dead_nodes, fusion, layernorm, gelu, transpose, attention, shape_folding, qdq, matmul_bias)",
                                  k);
        if (!json_is_boolean(v))
            return inferd_err_set(err, INFERD_EINVAL, "config.json: graph_optimizations.%s: not true or false", k);
        if (json_is_false(v))
            *off |= sw[i].bit;
    }
    return 0;
}

static int onnx_load(const struct backend_load *ld, void **model, struct inferd_err *err)
{
    struct inferd_onnx_options o = {.pool = ld->pool, .max_elements = ld->max_elements};
    struct inferd_onnx_model *m = NULL;
    int rc = graph_opts(ld->cfg, &o.graph_opt_off, err);
    if (rc == 0)
        rc = inferd_onnx_load(ld->path, &o, &m, err);
    if (rc < 0)
        return rc;
    log_json(LOG_INFO, "graph optimized",
             json_pack("{s:s,s:I,s:s}", "model", ld->name, "version", (json_int_t)ld->version, "rewrites",
                       inferd_onnx_graph_summary(m)));
    *model = m;
    return 0;
}

static void onnx_unload(void *model) { inferd_onnx_free(model); }

static unsigned onnx_caps(void *model)
{
    (void)model;
    return MODEL_CAP_TENSOR;
}

static int copy_io(const struct inferd_onnx_io *s, struct model_io *d, struct inferd_err *err)
{
    if (strlen(s->name) >= INFER_NAME_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "tensor name '%.40s...' is longer than %d bytes",
                              s->name, INFER_NAME_MAX - 1);
    snprintf(d->name, sizeof d->name, "%s", s->name);
    d->dtype = s->dtype;
    d->rank = s->rank;
    memcpy(d->dims, s->dims, sizeof d->dims);
    return 0;
}

static int onnx_describe(void *model, struct model_io *in, int *n_in, struct model_io *out, int *n_out,
                         struct inferd_err *err)
{
    struct inferd_onnx_model *m = model;
    int ni = inferd_onnx_n_inputs(m), no = inferd_onnx_n_outputs(m);
    if (ni > INFER_MAX_TENSORS || no > INFER_MAX_TENSORS)
        return inferd_err_set(err, INFERD_ETOOLARGE, "model has %d inputs and %d outputs; at most %d each are served",
                              ni, no, INFER_MAX_TENSORS);
    for (int i = 0; i < ni; i++)
        if (copy_io(inferd_onnx_input(m, i), &in[i], err) < 0)
            return err ? err->code : INFERD_ETOOLARGE;
    for (int i = 0; i < no; i++)
        if (copy_io(inferd_onnx_output(m, i), &out[i], err) < 0)
            return err ? err->code : INFERD_ETOOLARGE;
    *n_in = ni;
    *n_out = no;
    return 0;
}

static int onnx_infer(void *model, const struct inferd_tensor *in, int n_in, struct inferd_tensor *out,
                      int n_out, struct inferd_err *err)
{
    return inferd_onnx_run(model, in, n_in, out, n_out, err);
}

const struct backend_ops backend_onnx = {
    .name = "onnx",
    .platform = "onnxruntime_onnx",
    .file_name = "model.onnx",
    .load = onnx_load,
    .unload = onnx_unload,
    .caps = onnx_caps,
    .describe = onnx_describe,
    .infer = onnx_infer,
};
