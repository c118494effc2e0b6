/* backend_gguf.c — the "gguf" backend: loads models/<name>/<v>/model.gguf with the LLM
 * engine, reads the LLM members of config.json, picks the chat template and starts the
 * model's continuous-batching scheduler. */
#include "serve/repo/backend_gguf.h"

#include "base/log.h"
#include "observe/families.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void copy_trunc(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* models/<name>/<v>/model.gguf -> name (and the model folder for config.json). */
static void split_path(const char *path, char *name, size_t name_cap, char *dir, size_t dir_cap)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *slash = strrchr(tmp, '/');      /* before model.gguf */
    if (slash)
        *slash = 0;
    slash = strrchr(tmp, '/');            /* before <v> */
    if (slash)
        *slash = 0;
    copy_trunc(dir, dir_cap, slash ? tmp : ".");
    const char *base = strrchr(tmp, '/');
    copy_trunc(name, name_cap, base ? base + 1 : tmp);
}

static int cfg_int(json_t *c, const char *key, int lo, int hi, int *out, struct inferd_err *err)
{
    json_t *v = json_object_get(c, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return inferd_err_set(err, INFERD_EINVAL, "config.json: %s: must be an integer between %d and %d", key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int cfg_float(json_t *c, const char *key, double lo, double hi, float *out, struct inferd_err *err)
{
    json_t *v = json_object_get(c, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return inferd_err_set(err, INFERD_EINVAL, "config.json: %s: must be a number between %g and %g", key, lo, hi);
    *out = (float)json_number_value(v);
    return 0;
}

/* Reads the LLM members of dir/config.json into lm and cfg. A missing file is fine. */
static int read_config(const char *dir, struct llm_model *lm, struct llm_sched_config *sc, char *tmpl_name,
                       size_t tmpl_cap, struct inferd_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fclose(f);
    json_error_t je;
    json_t *c = json_load_file(path, 0, &je);
    if (!c || !json_is_object(c)) {
        json_decref(c);
        return inferd_err_set(err, INFERD_EFORMAT, "config.json: invalid JSON at line %d: %s", je.line, je.text);
    }
    int rc = 0, seed = -1;
    if ((rc = cfg_int(c, "context_size", 0, 1 << 24, &sc->n_ctx, err)) < 0 ||
        (rc = cfg_int(c, "n_ctx", 0, 1 << 24, &sc->n_ctx, err)) < 0 ||
        (rc = cfg_int(c, "parallel", 1, 256, &sc->n_seq, err)) < 0 ||
        (rc = cfg_int(c, "n_batch", 1, 1 << 16, &sc->n_batch, err)) < 0 ||
        (rc = cfg_int(c, "max_queue_size", 1, 1 << 20, &sc->max_queue, err)) < 0 ||
        (rc = cfg_int(c, "max_tokens", 1, 1 << 24, &lm->max_tokens, err)) < 0 ||
        (rc = cfg_int(c, "top_k", 0, 1 << 20, &lm->defaults.top_k, err)) < 0 ||
        (rc = cfg_int(c, "seed", 0, INT_MAX, &seed, err)) < 0 ||
        (rc = cfg_float(c, "temperature", 0, 2, &lm->defaults.temperature, err)) < 0 ||
        (rc = cfg_float(c, "top_p", 0, 1, &lm->defaults.top_p, err)) < 0 ||
        (rc = cfg_float(c, "min_p", 0, 1, &lm->defaults.min_p, err)) < 0 ||
        (rc = cfg_float(c, "repeat_penalty", 0, 10, &lm->defaults.repeat_penalty, err)) < 0)
        goto out;
    if (seed >= 0)
        lm->defaults.seed = (uint64_t)seed;
    json_t *e = json_object_get(c, "embeddings");
    if (e && !json_is_boolean(e)) {
        rc = inferd_err_set(err, INFERD_EINVAL, "config.json: embeddings: must be a boolean");
        goto out;
    }
    if (e)
        sc->embeddings = json_is_true(e);
    json_t *t = json_object_get(c, "chat_template");
    if (t && !json_is_string(t)) {
        rc = inferd_err_set(err, INFERD_EINVAL, "config.json: chat_template: must be a family name string");
        goto out;
    }
    if (t)
        snprintf(tmpl_name, tmpl_cap, "%s", json_string_value(t));
out:
    json_decref(c);
    return rc;
}

static int gguf_load(const char *path, const struct backend_opts *opt, void **model, struct inferd_err *err)
{
    struct llm_model *lm = calloc(1, sizeof *lm);
    if (!lm)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    char dir[4096], tmpl_name[64] = "";
    split_path(path, lm->name, sizeof lm->name, dir, sizeof dir);
    lm->defaults = (struct inferd_llm_sampling){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                                                .repeat_penalty = 1.0f, .penalty_last_n = 64, .seed = UINT64_MAX};
    struct llm_sched_config sc = {.n_seq = 4, .embeddings = 1, .model_name = lm->name, .metrics = opt->metrics};
    int rc = read_config(dir, lm, &sc, tmpl_name, sizeof tmpl_name, err);
    if (rc < 0)
        goto fail;
    struct inferd_llm_load_params lp = {.pool = opt->pool};
    rc = inferd_llm_load(path, &lp, &lm->m, err);
    if (rc < 0)
        goto fail;
    lm->info = inferd_llm_info(lm->m);
    if (tmpl_name[0]) {
        if (chat_tmpl_from_name(tmpl_name, &lm->tmpl) < 0) {
            rc = inferd_err_set(err, INFERD_EINVAL, "config.json: chat_template: unknown family '%s'", tmpl_name);
            goto fail;
        }
        lm->tmpl_source = "config";
    } else if (chat_tmpl_detect(lm->info->chat_template, &lm->tmpl) == 0) {
        lm->tmpl_source = "gguf";
    } else {
        lm->tmpl_source = "fallback";
        log_msg(LOG_WARN, "chat template not recognised; using ChatML", "\"model\":\"%s\",\"has_template\":%s",
                lm->name, lm->info->chat_template ? "true" : "false");
    }
    rc = llm_sched_new(lm->m, &sc, &lm->sched, err);
    if (rc < 0)
        goto fail;
    struct llm_sched_stats st;
    llm_sched_stats(lm->sched, &st);
    lm->n_ctx = st.n_ctx;
    lm->n_seq = st.n_seq;
    lm->embeddings = sc.embeddings;
    lm->created = (long long)time(NULL);
    log_msg(LOG_INFO, "llm model loaded", "\"model\":\"%s\",\"n_ctx\":%d,\"parallel\":%d,\"chat_template\":\"%s\",\"template_source\":\"%s\"",
            lm->name, lm->n_ctx, lm->n_seq, chat_tmpl_name(lm->tmpl.family), lm->tmpl_source);
    *model = lm;
    return 0;
fail:
    inferd_llm_free(lm->m);
    free(lm);
    return rc;
}

static void gguf_unload(void *model)
{
    struct llm_model *lm = model;
    if (!lm)
        return;
    llm_sched_free(lm->sched);
    inferd_llm_free(lm->m);
    free(lm);
}

/* For the v2 metadata: text in, text out (generation runs on the OpenAI routes). */
static int gguf_describe(void *model, struct model_io *in, int *n_in, struct model_io *out, int *n_out,
                         struct inferd_err *err)
{
    (void)model;
    (void)err;
    memset(&in[0], 0, sizeof in[0]);
    snprintf(in[0].name, sizeof in[0].name, "text_input");
    in[0].dtype = INFERD_BYTES;
    in[0].rank = 1;
    in[0].dims[0] = 1;
    memset(&out[0], 0, sizeof out[0]);
    snprintf(out[0].name, sizeof out[0].name, "text_output");
    out[0].dtype = INFERD_BYTES;
    out[0].rank = 1;
    out[0].dims[0] = 1;
    *n_in = 1;
    *n_out = 1;
    return 0;
}

static int gguf_infer(void *model, const struct inferd_tensor *in, int n_in, struct inferd_tensor *out, int n_out,
                      struct inferd_err *err)
{
    struct llm_model *lm = model;
    (void)in;
    (void)n_in;
    (void)out;
    (void)n_out;
    return inferd_err_set(err, INFERD_EUNSUPPORTED,
                          "model %s is an LLM: use POST /v1/completions or /v1/chat/completions", lm->name);
}

const struct backend_ops backend_gguf = {
    .name = "gguf",
    .platform = "inferd_gguf",
    .file_name = "model.gguf",
    .load = gguf_load,
    .unload = gguf_unload,
    .describe = gguf_describe,
    .infer = gguf_infer,
};

int llm_model_tokenize(const struct llm_model *lm, const char *text, size_t len, int add_special,
                       int parse_special, int cap, int32_t **out, int *n, struct inferd_err *err)
{
    int guess = (int)(len + 8 < (size_t)cap ? len + 8 : (size_t)cap);
    int32_t *buf = malloc((size_t)(guess > 0 ? guess : 1) * sizeof *buf);
    if (!buf)
        return inferd_err_set(err, INFERD_ENOMEM, "tokenize: out of memory");
    int got = inferd_llm_tokenize(lm->m, text, len, add_special, parse_special, buf, guess);
    if (got > guess) {
        if (got > cap) {
            free(buf);
            return inferd_err_set(err, INFERD_ETOOLARGE, "prompt: %d tokens exceed the cap of %d", got, cap);
        }
        int32_t *nb = realloc(buf, (size_t)got * sizeof *nb);
        if (!nb) {
            free(buf);
            return inferd_err_set(err, INFERD_ENOMEM, "tokenize: out of memory");
        }
        buf = nb;
        got = inferd_llm_tokenize(lm->m, text, len, add_special, parse_special, buf, got);
    }
    if (got < 0) {
        free(buf);
        return inferd_err_set(err, INFERD_EINVAL, "tokenize: failed");
    }
    *out = buf;
    *n = got;
    return 0;
}
