/* pack.c — building a model package from an ONNX or GGUF file (pack.h). */
#include "pack/pack.h"

#include "inferd/llm.h"
#include "inferd/onnx.h"
#include "inferd/tensor.h"
#include "inferd/version.h"
#include "llm/gguf.h"
#include "pack/llama2c.h"
#include "pack/tflite.h"
#include "onnx/optimize.h"
#include "base/rng.h"
#include "pack/manifest.h"
#include "serve/repo/repo_config.h"

#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PACK_DEFAULT_BATCH 8
#define PACK_DEFAULT_CTX 4096

int pack_model_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 128 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

/* "onnx" or "gguf" from the file's first bytes and name. */
static int detect_format(const char *path, const char *tokenizer, char *fmt, size_t cap, struct inferd_err *err)
{
    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", path, strerror(errno));
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    size_t len = strlen(path);
    if (n >= 4 && memcmp(magic, "GGUF", 4) == 0)
        snprintf(fmt, cap, "gguf");
    else if (tflite_sniff(magic, n))
        snprintf(fmt, cap, "tflite");
    else if (tokenizer)
        snprintf(fmt, cap, "llama2c");
    else if (len > 5 && strcmp(path + len - 5, ".onnx") == 0)
        snprintf(fmt, cap, "onnx");
    else
        return inferd_err_set(err, INFERD_EUNSUPPORTED,
                              "%s: not a GGUF or TFLite file and not named *.onnx; pack takes ONNX, GGUF and TFLite "
                              "models, and llama2.c checkpoints with --tokenizer", path);
    return 0;
}

static json_t *io_list(const struct inferd_onnx_model *m, int outputs, int batched)
{
    json_t *arr = json_array();
    int n = outputs ? inferd_onnx_n_outputs(m) : inferd_onnx_n_inputs(m);
    for (int i = 0; arr && i < n; i++) {
        const struct inferd_onnx_io *io = outputs ? inferd_onnx_output(m, i) : inferd_onnx_input(m, i);
        char type[32];
        snprintf(type, sizeof type, "TYPE_%s", inferd_dtype_v2_name(io->dtype));
        json_t *dims = json_array();
        for (int d = batched ? 1 : 0; dims && d < io->rank; d++)
            json_array_append_new(dims, json_integer(io->dims[d]));
        json_t *o = json_pack("{s:s, s:s, s:o?}", "name", io->name, "data_type", type, "dims", dims);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The inferred config.json of an ONNX model (loading it checks that inferd can serve it). */
static int infer_onnx(const char *path, json_t *cfg, struct inferd_err *err)
{
    struct inferd_onnx_model *m = NULL;
    struct inferd_onnx_options opt = {0};
    int rc = inferd_onnx_load(path, &opt, &m, err);
    if (rc < 0) {
        inferd_err_prefix(err, "%s: inferd cannot load this model", path);
        return rc;
    }
    int batched = inferd_onnx_n_inputs(m) > 0;
    for (int out = 0; out < 2; out++) {
        int n = out ? inferd_onnx_n_outputs(m) : inferd_onnx_n_inputs(m);
        for (int i = 0; i < n; i++) {
            const struct inferd_onnx_io *io = out ? inferd_onnx_output(m, i) : inferd_onnx_input(m, i);
            if (io->rank < 1 || io->dims[0] != -1)
                batched = 0;
        }
    }
    json_object_set_new(cfg, "backend", json_string("onnx"));
    json_object_set_new(cfg, "max_batch_size", json_integer(batched ? PACK_DEFAULT_BATCH : 0));
    json_t *in = io_list(m, 0, batched), *outl = io_list(m, 1, batched);
    inferd_onnx_free(m);
    if (!in || !outl) {
        json_decref(in);
        json_decref(outl);
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    }
    json_object_set_new(cfg, "input", in);
    json_object_set_new(cfg, "output", outl);
    return 0;
}

static int infer_gguf(const char *path, json_t *cfg, struct inferd_err *err)
{
    struct gguf_file *g = NULL;
    struct gguf_str arch;
    char key[160], archs[64];
    int64_t ctx = 0;
    int rc = gguf_open(path, &g, err);
    if (rc < 0)
        return rc;
    if (gguf_get_str(g, "general.architecture", &arch) < 0 || arch.len == 0 || arch.len >= sizeof archs) {
        gguf_close(g);
        return inferd_err_set(err, INFERD_EFORMAT, "%s: general.architecture: missing or not a short string", path);
    }
    memcpy(archs, arch.ptr, arch.len);
    archs[arch.len] = '\0';
    snprintf(key, sizeof key, "%s.context_length", archs);
    if (gguf_get_i64(g, key, &ctx) < 0 || ctx < 1)
        ctx = 0;
    int has_tmpl = gguf_find_kv(g, "tokenizer.chat_template") != NULL;
    gguf_close(g);
    json_object_set_new(cfg, "backend", json_string("gguf"));
    json_object_set_new(cfg, "architecture", json_string(archs));
    if (ctx > 0)
        json_object_set_new(cfg, "context_size", json_integer(ctx < PACK_DEFAULT_CTX ? ctx : PACK_DEFAULT_CTX));
    json_object_set_new(cfg, "parallel", json_integer(4));
    json_object_set_new(cfg, "has_chat_template", json_boolean(has_tmpl));
    return 0;
}

static char *dump(const json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    *len = n + 1;
    return t;
}

static json_t *file_entry(const char *hex, int64_t size)
{
    return json_pack("{s:s, s:I}", "sha256", hex, "size", (json_int_t)size);
}

static void sha256_hex_of(const char *data, size_t len, char hex[65]);

static json_t *optimizations_list(const struct pack_opts *o, const char *converted_from, const char *quant_scheme)
{
    json_t *a = json_array();
    if (converted_from)
        json_array_append_new(a, json_string(strcmp(converted_from, "tflite") == 0 ? "tflite-to-onnx" : "llama2c-to-gguf"));
    if (o->onnx_optimize)
        json_array_append_new(a, json_string("onnx-graph-optimizations"));
    if (o->onnx_int8)
        json_array_append_new(a, json_string("onnx-int8-qdq-weights"));
    if (o->quantize && quant_scheme) {
        char q[48];
        snprintf(q, sizeof q, "quantize:%s", quant_scheme);
        json_array_append_new(a, json_string(q));
    }
    return a;
}

/* Runs a model on a seeded random input (symbolic dims 1). OUT: owned copies of the outputs. */
static int run_random(const char *path, float **outs, int64_t *n_out, int max_out, int *n_outputs,
                      struct inferd_err *err)
{
    struct inferd_onnx_model *m = NULL;
    struct inferd_onnx_options opt = {0};
    int rc = inferd_onnx_load(path, &opt, &m, err);
    if (rc < 0)
        return rc;
    int ni = inferd_onnx_n_inputs(m), no = inferd_onnx_n_outputs(m);
    struct inferd_tensor in[16], out[16];
    if (ni > 16 || no > 16 || no > max_out) {
        inferd_onnx_free(m);
        return 1; /* too many to compare: skipped */
    }
    uint64_t seed = 12345;
    memset(in, 0, sizeof in);
    for (int i = 0; i < ni && rc == 0; i++) {
        const struct inferd_onnx_io *io = inferd_onnx_input(m, i);
        in[i].dtype = io->dtype;
        in[i].rank = io->rank < 0 ? 0 : io->rank;
        for (int d = 0; d < in[i].rank; d++)
            in[i].dims[d] = io->dims[d] < 0 ? 1 : io->dims[d];
        int64_t n = inferd_shape_numel(in[i].rank, in[i].dims);
        if (io->dtype != INFERD_FP32 || n < 0 || n > (1 << 26)) {
            rc = 1; /* not float input: no random calibration */
            break;
        }
        float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
        if (!d) {
            rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
            break;
        }
        for (int64_t k = 0; k < n; k++) /* uniform in [-1, 1) */
            d[k] = (float)((double)(rng_splitmix64(&seed) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        in[i].data = d;
        in[i].nbytes = (size_t)n * sizeof *d;
    }
    if (rc == 0)
        rc = inferd_onnx_run(m, in, ni, out, no, err);
    for (int k = 0; rc == 0 && k < no; k++) {
        int64_t n = out[k].dtype == INFERD_FP32 ? (int64_t)(out[k].nbytes / 4) : 0;
        outs[k] = malloc((size_t)(n ? n : 1) * sizeof(float));
        if (!outs[k]) {
            rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
            break;
        }
        if (n)
            memcpy(outs[k], out[k].data, (size_t)n * sizeof(float));
        n_out[k] = n;
        *n_outputs = k + 1;
    }
    for (int i = 0; i < ni; i++)
        free(in[i].data);
    inferd_onnx_free(m);
    return rc;
}

/* Rewrites the packaged ONNX file in place and measures what it changed. */
static int optimize_onnx(const struct pack_opts *o, const char *path, struct pack_result *res, struct inferd_err *err)
{
    char before[PATH_MAX_LEN];
    struct ox_opt_options oo = {.fold = o->onnx_optimize, .identity = o->onnx_optimize, .bn = o->onnx_optimize,
                                .dce = 1, .qdq = o->onnx_int8, .shape = o->onnx_optimize};
    struct ox_opt_report r;
    struct stat st;
    if (snprintf(before, sizeof before, "%s.before", path) >= (int)sizeof before)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: path too long", path);
    if (rename(path, before) != 0)
        return inferd_err_set(err, INFERD_EIO, "%s: rename: %s", path, strerror(errno));
    res->size_before = stat(before, &st) == 0 ? (int64_t)st.st_size : 0;
    int rc = ox_optimize_file(before, path, &oo, &r, err);
    if (rc == 0 && stat(path, &st) == 0)
        res->size = (int64_t)st.st_size;
    snprintf(res->changes, sizeof res->changes,
             "%lld -> %lld nodes: %d constant-folded, %d Identity/Dropout removed, %d BatchNormalization folded, "
             "%d dead removed, %d weights int8",
             (long long)r.nodes_before, (long long)r.nodes_after, r.folded, r.identities, r.bn_folded, r.dead,
             r.quantized);
    float *a[16] = {0}, *b[16] = {0};
    int64_t na[16] = {0}, nb[16] = {0};
    int ka = 0, kb = 0;
    res->max_abs_diff = res->max_ref = -1;
    if (rc == 0) {
        int ra = run_random(before, a, na, 16, &ka, err);
        int rb = ra == 0 ? run_random(path, b, nb, 16, &kb, err) : ra;
        if (ra < 0 || rb < 0)
            rc = ra < 0 ? ra : rb;
        else if (ra == 0 && rb == 0 && ka == kb) {
            res->max_abs_diff = res->max_ref = 0;
            for (int k = 0; k < ka; k++)
                for (int64_t j = 0; j < na[k] && j < nb[k]; j++) {
                    double d = fabs((double)a[k][j] - (double)b[k][j]), m = fabs((double)a[k][j]);
                    if (d > res->max_abs_diff || isnan(d))
                        res->max_abs_diff = isnan(d) ? INFINITY : d;
                    if (m > res->max_ref)
                        res->max_ref = m;
                }
        }
        if (rc < 0)
            inferd_err_prefix(err, "checking the optimized model against the source");
    }
    for (int k = 0; k < 16; k++) {
        free(a[k]);
        free(b[k]);
    }
    unlink(before);
    return rc;
}

/* Quantizes gguf (the source or the converted file) into path; with calib, the perplexity
 * of both. OUT: res->quant, res->ppl_*. */
static int quantize_step(const struct pack_opts *o, const char *gguf, const char *path, struct pack_result *res,
                         struct inferd_err *err)
{
    int rc;
    struct inferd_llm_ppl before, after;
    struct inferd_llm_ppl_params pp = {.n_ctx = o->calib_ctx, .max_chunks = o->calib_chunks,
                                       .progress = o->calib_progress, .arg = o->progress_ctx};
    if (o->calib && (rc = inferd_llm_perplexity_file(gguf, o->calib, o->threads, &pp, &before, err)) < 0) {
        inferd_err_prefix(err, "--calib");
        return rc;
    }
    if ((rc = gguf_quant_file(gguf, path, o->quantize, o->threads, o->quant_progress, o->progress_ctx, &res->quant,
                              err)) < 0)
        return rc;
    if (o->calib) {
        if ((rc = inferd_llm_perplexity_file(path, o->calib, o->threads, &pp, &after, err)) < 0) {
            inferd_err_prefix(err, "--calib (quantized model)");
            return rc;
        }
        res->has_ppl = 1;
        res->ppl_before = before.ppl;
        res->ppl_after = after.ppl;
        res->ppl_ctx = after.n_ctx;
        res->ppl_chunks = after.n_chunks;
    }
    return 0;
}

/* manifest.json's "quantization" member. */
static json_t *quant_json(const struct pack_opts *o, const struct pack_result *res)
{
    const struct gguf_quant_stats *q = &res->quant;
    json_t *types = json_object();
    for (int t = 0; types && t < GGML_TYPE_COUNT; t++)
        if (q->n_by_type[t])
            json_object_set_new(types, ggml_type_name((enum ggml_type)t), json_integer(q->n_by_type[t]));
    json_t *j = json_pack("{s:s, s:i, s:I, s:I, s:o, s:i, s:i, s:i}", "scheme", q->scheme, "file_type", q->ftype,
                          "size_before", (json_int_t)q->bytes_in, "size_after", (json_int_t)q->bytes_out,
                          "tensor_types", types, "quantized", q->n_quantized, "fallbacks", q->n_fallback,
                          "requantized", q->n_requantized);
    if (j && res->has_ppl) {
        const char *base = strrchr(o->calib, '/') ? strrchr(o->calib, '/') + 1 : o->calib;
        json_object_set_new(j, "perplexity", json_pack("{s:s, s:i, s:i, s:f, s:f}", "file", base, "n_ctx",
                                                       res->ppl_ctx, "chunks", res->ppl_chunks, "before",
                                                       res->ppl_before, "after", res->ppl_after));
    }
    return j;
}

int pack_build(const struct pack_opts *o, struct pack_result *res, struct inferd_err *err)
{
    char tmp[PATH_MAX_LEN], mdir[PATH_MAX_LEN], vdir[PATH_MAX_LEN], path[PATH_MAX_LEN], vstr[24], hex[65];
    char model_file[32];
    uint8_t digest[32];
    json_t *cfg = NULL, *manifest = NULL;
    char *cfg_text = NULL, *man_text = NULL;
    size_t cfg_len = 0, man_len = 0;
    struct stat st;
    int rc = 0, made = 0;
    memset(res, 0, sizeof *res);
    if (!pack_model_name_ok(o->name))
        return inferd_err_set(err, INFERD_EINVAL,
                              "--name: '%.130s' is not a model name (1-127 of A-Z a-z 0-9 _ . -, not starting with '.')",
                              o->name);
    if (o->version < 1 || o->version > 999999999999999LL)
        return inferd_err_set(err, INFERD_EINVAL, "--version: not in 1..999999999999999");
    if (lstat(o->out_dir, &st) == 0)
        return inferd_err_set(err, INFERD_EINVAL, "%s: already exists; pack writes a new folder", o->out_dir);
    char src_format[16], src_hex[65];
    int64_t src_size = 0;
    if ((rc = detect_format(o->src, o->tokenizer, src_format, sizeof src_format, err)) < 0)
        return rc;
    int convert = strcmp(src_format, "llama2c") == 0 || strcmp(src_format, "tflite") == 0;
    if ((o->quantize || o->calib) && (strcmp(src_format, "onnx") == 0 || strcmp(src_format, "tflite") == 0))
        return inferd_err_set(err, INFERD_EUNSUPPORTED,
                              "--quantize %s/--calib: %s is not GGUF; GGUF schemes and --calib take GGUF models "
                              "(ONNX weights: --quantize int8)", o->quantize ? o->quantize : "", o->src);
    if (o->calib && !o->quantize)
        return inferd_err_set(err, INFERD_EINVAL, "--calib: compares the model before and after --quantize; give both");
    if (o->quantize && !gguf_quant_scheme_ok(o->quantize, NULL)) {
        struct gguf_quant_stats unused;
        return gguf_quant_file(o->src, "", o->quantize, 1, NULL, NULL, &unused, err); /* its message lists them */
    }
    snprintf(res->format, sizeof res->format, "%s",
             strcmp(src_format, "llama2c") == 0 ? "gguf" : strcmp(src_format, "tflite") == 0 ? "onnx" : src_format);
    snprintf(model_file, sizeof model_file, "model.%s", res->format);
    cfg = json_object();
    if (!cfg)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    snprintf(vstr, sizeof vstr, "%lld", (long long)o->version);
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o->out_dir, (long)getpid()) >= (int)sizeof tmp ||
        (rc = path_join(mdir, sizeof mdir, tmp, o->name, err)) < 0 || (rc = path_join(vdir, sizeof vdir, mdir, vstr, err)) < 0) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE, "%.200s: output path too long", o->out_dir);
        goto fail;
    }
    if (file_remove_tree(tmp, err) < 0 || mkdir(tmp, 0755) != 0 || mkdir(mdir, 0755) != 0 || mkdir(vdir, 0755) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    made = 1;
    if ((rc = path_join(path, sizeof path, vdir, model_file, err)) < 0)
        goto fail;
    if (convert) { /* llama2.c checkpoint + tokenizer -> model.gguf; TFLite -> model.onnx */
        if ((rc = strcmp(src_format, "tflite") == 0 ? tflite_to_onnx(o->src, path, err)
                                                    : llama2c_to_gguf(o->src, o->tokenizer, path, err)) < 0 ||
            (rc = sha256_file_hex(o->src, src_hex, err)) < 0)
            goto fail;
        if (o->quantize) { /* model.gguf.f32 -> quantized model.gguf */
            char conv[PATH_MAX_LEN + 8];
            snprintf(conv, sizeof conv, "%s.conv", path);
            if (rename(path, conv) != 0) {
                rc = inferd_err_set(err, INFERD_EIO, "%s: rename: %s", path, strerror(errno));
                goto fail;
            }
            rc = quantize_step(o, conv, path, res, err);
            unlink(conv);
            if (rc < 0)
                goto fail;
        }
        if ((rc = sha256_file_hex(path, res->sha256, err)) < 0)
            goto fail;
        if (stat(o->src, &st) != 0) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: %s", o->src, strerror(errno));
            goto fail;
        }
        src_size = (int64_t)st.st_size;
    } else if (o->quantize) {
        if ((rc = quantize_step(o, o->src, path, res, err)) < 0 || (rc = sha256_file_hex(o->src, src_hex, err)) < 0 ||
            (rc = sha256_file_hex(path, res->sha256, err)) < 0)
            goto fail;
        if (stat(o->src, &st) != 0) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: %s", o->src, strerror(errno));
            goto fail;
        }
        src_size = (int64_t)st.st_size;
    } else {
        if ((rc = file_copy(o->src, path, digest, o->progress, o->progress_ctx, err)) < 0)
            goto fail;
        file_hex(digest, 32, res->sha256);
        memcpy(src_hex, res->sha256, sizeof src_hex);
    }
    if (stat(path, &st) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    res->size = (int64_t)st.st_size;
    if (!convert && !o->quantize)
        src_size = res->size;
    if ((o->onnx_optimize || o->onnx_int8) && strcmp(res->format, "onnx") != 0) {
        rc = inferd_err_set(err, INFERD_EINVAL, "--optimize and --quantize int8 apply to ONNX models; %s is %s",
                            o->src, res->format);
        goto fail;
    }
    if (o->onnx_optimize || o->onnx_int8) {
        if ((rc = optimize_onnx(o, path, res, err)) < 0)
            goto fail;
        if ((rc = sha256_file_hex(path, res->sha256, err)) < 0)
            goto fail;
    }
    rc = strcmp(res->format, "onnx") == 0 ? infer_onnx(path, cfg, err) : infer_gguf(path, cfg, err);
    if (rc < 0) {
        if (!strstr(err->msg, o->src))
            inferd_err_prefix(err, "%s", o->src);
        goto fail;
    }
    if (o->overrides && json_object_update(cfg, (json_t *)o->overrides) < 0) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    if (!(cfg_text = dump(cfg, &cfg_len))) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    {
        struct model_config mc;
        if ((rc = model_config_parse(cfg_text, cfg_len, &mc, err)) < 0)
            goto fail;
        model_config_free(&mc);
    }
    if ((rc = path_join(path, sizeof path, vdir, "config.json", err)) < 0 ||
        (rc = file_write_atomic(path, cfg_text, cfg_len, 0644, err)) < 0 ||
        (rc = path_join(path, sizeof path, mdir, "config.json", err)) < 0 ||
        (rc = file_write_atomic(path, cfg_text, cfg_len, 0644, err)) < 0)
        goto fail;
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *base = strrchr(o->src, '/') ? strrchr(o->src, '/') + 1 : o->src;
    sha256_hex_of(cfg_text, cfg_len, hex);
    manifest = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:I}, s:o, s:[s], s:{s:o, s:o}}",
                         "schema", "inferd.package.v1", "name", o->name, "version", (json_int_t)o->version, "format",
                         res->format, "created", created, "inferd_version", INFERD_VERSION, "source", "file", base,
                         "format", src_format, "sha256", src_hex, "size", (json_int_t)src_size, "optimizations",
                         optimizations_list(o, convert ? src_format : NULL, res->quant.scheme), "checks",
                         strcmp(res->format, "onnx") == 0 ? "onnx-load" : "gguf-read", "files", model_file,
                         file_entry(res->sha256, res->size), "config.json", file_entry(hex, (int64_t)cfg_len));
    if (manifest && o->quantize)
        json_object_set_new(manifest, "quantization", quant_json(o, res));
    if (!manifest || !(man_text = dump(manifest, &man_len))) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = path_join(path, sizeof path, vdir, "manifest.json", err)) < 0 ||
        (rc = file_write_atomic(path, man_text, man_len, 0644, err)) < 0)
        goto fail;
    if (o->sign && (rc = pack_sign_version(vdir, o->sign, err)) < 0)
        goto fail;
    if ((rc = file_fsync_dir(mdir, err)) < 0 || (rc = file_fsync_dir(tmp, err)) < 0)
        goto fail;
    if (rename(tmp, o->out_dir) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: rename: %s", o->out_dir, strerror(errno));
        goto fail;
    }
    {
        char parent[PATH_MAX_LEN];
        snprintf(parent, sizeof parent, "%s", o->out_dir);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent)
            *slash = '\0';
        else
            snprintf(parent, sizeof parent, "%s", slash ? "/" : ".");
        file_fsync_dir(parent, NULL);
    }
    if ((rc = path_join(mdir, sizeof mdir, o->out_dir, o->name, err)) < 0 ||
        (rc = path_join(res->version_dir, sizeof res->version_dir, mdir, vstr, err)) < 0)
        goto fail_done;
    rc = 0;
    goto fail_done;
fail:
    if (made)
        file_remove_tree(tmp, NULL);
fail_done:
    json_decref(cfg);
    json_decref(manifest);
    free(cfg_text);
    free(man_text);
    return rc;
}

#include <nettle/sha2.h>

static void sha256_hex_of(const char *data, size_t len, char hex[65])
{
    struct sha256_ctx h;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&h);
    sha256_update(&h, len, (const uint8_t *)data);
    sha256_digest(&h, sizeof d, d);
    file_hex(d, sizeof d, hex);
}

int pack_open(const char *pkg, char *name, int64_t *version, char *model_dir, char *version_dir,
              struct inferd_err *err)
{
    DIR *d = opendir(pkg);
    struct dirent *e;
    int n = 0, rc;
    struct stat st;
    char path[PATH_MAX_LEN];
    if (!d)
        return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", pkg, strerror(errno));
    name[0] = '\0';
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (!pack_model_name_ok(e->d_name) || path_join(path, sizeof path, pkg, e->d_name, NULL) < 0 ||
            stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            closedir(d);
            return inferd_err_set(err, INFERD_EFORMAT, "%s/%.255s: not a model folder; a package holds one model folder",
                                  pkg, e->d_name);
        }
        if (n++ == 0)
            snprintf(name, 128, "%.127s", e->d_name);
    }
    closedir(d);
    if (n != 1)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: holds %d model folders; a package holds exactly one", pkg, n);
    if ((rc = path_join(model_dir, PATH_MAX_LEN, pkg, name, err)) < 0)
        return rc;
    d = opendir(model_dir);
    if (!d)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", model_dir, strerror(errno));
    n = 0;
    *version = 0;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (s[0] == '.' || strcmp(s, "config.json") == 0)
            continue;
        if (strspn(s, "0123456789") != strlen(s) || strlen(s) > 15 || s[0] == '0') {
            closedir(d);
            return inferd_err_set(err, INFERD_EFORMAT, "%s/%.255s: not a version folder (1-15 digits)", model_dir, s);
        }
        n++;
        *version = strtoll(s, NULL, 10);
    }
    closedir(d);
    if (n != 1)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: holds %d version folders; a package holds exactly one",
                              model_dir, n);
    char vstr[24];
    snprintf(vstr, sizeof vstr, "%lld", (long long)*version);
    return path_join(version_dir, PATH_MAX_LEN, model_dir, vstr, err);
}
