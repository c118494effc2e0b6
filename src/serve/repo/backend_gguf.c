/* backend_gguf.c — the "gguf" backend: loads models/<name>/<v>/model.gguf with the LLM
 * engine, reads the LLM members of config.json, picks the chat template and starts the
 * model's continuous-batching scheduler. */
#include "serve/repo/backend_gguf.h"

#include "base/log.h"
#include "observe/families.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Reads the LLM members of config.json (parsed by the repository) into lm and sc. */
static int read_config(const struct model_config *cfg, struct llm_model *lm, struct llm_sched_config *sc,
                       char *tmpl_name, size_t tmpl_cap, struct inferd_err *err)
{
    int rc, seed = -1, prefix_mb = -1;
    char kv_type[16] = "";
    if ((rc = config_int(cfg, "context_size", 0, 1 << 24, &sc->n_ctx, err)) < 0 ||
        (rc = config_int(cfg, "n_ctx", 0, 1 << 24, &sc->n_ctx, err)) < 0 ||
        (rc = config_int(cfg, "parallel", 1, 256, &sc->n_seq, err)) < 0 ||
        (rc = config_int(cfg, "n_batch", 1, 1 << 16, &sc->n_batch, err)) < 0 ||
        (rc = config_int(cfg, "max_queue_size", 1, 1 << 20, &sc->max_queue, err)) < 0 ||
        (rc = config_int(cfg, "max_running_per_key", 0, 256, &sc->max_running_per_client, err)) < 0 ||
        (rc = config_int(cfg, "prefix_cache_mb", 0, 1 << 20, &prefix_mb, err)) < 0 ||
        (rc = config_int(cfg, "memory_budget_mb", 1, 1 << 30, &sc->memory_budget_mb, err)) < 0 ||
        (rc = config_int(cfg, "max_tokens", 1, 1 << 24, &lm->max_tokens, err)) < 0 ||
        (rc = config_int(cfg, "top_k", 0, 1 << 20, &lm->defaults.top_k, err)) < 0 ||
        (rc = config_int(cfg, "seed", 0, INT_MAX, &seed, err)) < 0 ||
        (rc = config_float(cfg, "temperature", 0, 2, &lm->defaults.temperature, err)) < 0 ||
        (rc = config_float(cfg, "top_p", 0, 1, &lm->defaults.top_p, err)) < 0 ||
        (rc = config_float(cfg, "min_p", 0, 1, &lm->defaults.min_p, err)) < 0 ||
        (rc = config_float(cfg, "repeat_penalty", 0, 10, &lm->defaults.repeat_penalty, err)) < 0 ||
        (rc = config_bool(cfg, "embeddings", &sc->embeddings, err)) < 0 ||
        (rc = config_bool(cfg, "kv_unified", &sc->kv_unified, err)) < 0 ||
        (rc = config_string(cfg, "chat_template", tmpl_name, tmpl_cap, err)) < 0 ||
        (rc = config_string(cfg, "kv_type", kv_type, sizeof kv_type, err)) < 0)
        return rc;
    if (kv_type[0]) {
        if (strcmp(kv_type, "f16") == 0 || strcmp(kv_type, "F16") == 0)
            sc->kv_type = INFERD_LLM_KV_F16;
        else if (strcmp(kv_type, "f32") == 0 || strcmp(kv_type, "F32") == 0)
            sc->kv_type = INFERD_LLM_KV_F32;
        else if (strcmp(kv_type, "q8_0") == 0 || strcmp(kv_type, "Q8_0") == 0)
            sc->kv_type = INFERD_LLM_KV_Q8_0;
        else
            return inferd_err_set(err, INFERD_EINVAL, "config.json: kv_type: '%s' is not f16, f32 or q8_0", kv_type);
    }
    if (seed >= 0)
        lm->defaults.seed = (uint64_t)seed;
    if (prefix_mb >= 0) /* 0 turns the prefix cache off; absent keeps the scheduler's default */
        sc->prefix_cache_mb = prefix_mb > 0 ? prefix_mb : -1;
    return 0;
}

static int gguf_load(const struct backend_load *ld, void **model, struct inferd_err *err)
{
    struct llm_model *lm = calloc(1, sizeof *lm);
    if (!lm)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    char tmpl_name[64] = "";
    snprintf(lm->name, sizeof lm->name, "%s", ld->name);
    lm->defaults = (struct inferd_llm_sampling){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                                                .repeat_penalty = 1.0f, .penalty_last_n = 64, .seed = UINT64_MAX};
    struct llm_sched_config sc = {.n_seq = 4, .embeddings = 1, .model_name = lm->name, .metrics = ld->metrics,
                                  .prefix_cache_mb = ld->prefix_cache_mb, .memory_budget_mb = ld->memory_budget_mb};
    int rc = read_config(ld->cfg, lm, &sc, tmpl_name, sizeof tmpl_name, err);
    if (rc < 0)
        goto fail;
    struct inferd_llm_load_params lp = {.pool = ld->pool};
    rc = inferd_llm_load(ld->path, &lp, &lm->m, err);
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
        log_json(LOG_WARN, "chat template not recognised; using ChatML",
                 json_pack("{s:s,s:b}", "model", lm->name, "has_template", lm->info->chat_template != NULL));
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
    log_json(LOG_INFO, "llm model loaded",
             json_pack("{s:s,s:i,s:i,s:s,s:s}", "model", lm->name, "n_ctx", lm->n_ctx, "parallel", lm->n_seq,
                       "chat_template", chat_tmpl_name(lm->tmpl.family), "template_source", lm->tmpl_source));
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

static unsigned gguf_caps(void *model)
{
    struct llm_model *lm = model;
    return MODEL_CAP_GENERATE | (lm->embeddings ? MODEL_CAP_EMBED : 0u);
}

static struct llm_model *gguf_llm(void *model) { return model; }

const struct backend_ops backend_gguf = {
    .name = "gguf",
    .platform = "inferd_gguf",
    .file_name = "model.gguf",
    .load = gguf_load,
    .unload = gguf_unload,
    .caps = gguf_caps,
    .describe = gguf_describe,
    .llm = gguf_llm,
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
