/* openai_models.c — the OpenAI-side routes that run no generation: GET /v1/models (the
 * loaded language models with their serving state), and llama.cpp's /tokenize and
 * /detokenize. GET /v1/models/{m} is shared with TF-Serving's model status route
 * (routes/tfserving.c), which answers with openai_model_object for a GGUF model: OpenAI's
 * "retrieve model". */
#include "serve/repo/backend_gguf.h"
#include "serve/routes/openai_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opening of /tokenize and /detokenize (the key was checked by the front): the body as a
 * JSON object. OUT: *root. Returns 0, or -1 after answering 400 with the parse error. */
static int tok_open(struct http_req *r, json_t **root)
{
    size_t len;
    const char *body = http_req_body(r, &len);
    json_error_t je;
    *root = json_loadb(body, len, 0, &je);
    if (!*root || !json_is_object(*root)) {
        char msg[INFERD_ERR_MSG_MAX];
        if (*root)
            snprintf(msg, sizeof msg, "request body: not a JSON object");
        else
            snprintf(msg, sizeof msg, "request body: malformed JSON at line %d column %d: %.200s", je.line, je.column,
                     je.text);
        json_decref(*root);
        *root = NULL;
        oai_error_from(r, INFERD_EINVAL, NULL, msg);
        return -1;
    }
    return 0;
}

static int h_tokenize(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    json_t *root;
    if (tok_open(r, &root) < 0)
        return HTTP_DONE;
    json_t *content = json_object_get(root, "content");
    if (!json_is_string(content)) {
        json_decref(root);
        oai_error_from(r, INFERD_EINVAL, "content", "content: required, a string");
        return HTTP_DONE;
    }
    json_t *as = json_object_get(root, "add_special"), *ps = json_object_get(root, "parse_special");
    json_t *wp = json_object_get(root, "with_pieces");
    struct model_version *mv;
    struct llm_model *lm;
    if (oai_take_model(r, s, json_string_value(json_object_get(root, "model")), &mv, &lm) < 0) {
        json_decref(root);
        return HTTP_DONE;
    }
    int32_t *toks = NULL;
    int n = 0;
    struct inferd_err err = {0};
    if (llm_model_tokenize(lm, json_string_value(content), json_string_length(content), json_is_true(as),
                           ps ? json_is_true(ps) : 1, OAI_MAX_PROMPT_TOKENS, &toks, &n, &err) < 0) {
        oai_error_from(r, err.code, "content", err.msg);
    } else {
        json_t *a = json_array();
        for (int i = 0; i < n; i++) {
            if (json_is_true(wp)) {
                char buf[256];
                int pn = inferd_llm_token_to_piece(lm->m, toks[i], buf, sizeof buf);
                char *p = llm_utf8_sanitize(buf, pn > 0 ? (size_t)(pn > 256 ? 256 : pn) : 0, NULL);
                json_array_append_new(a, json_pack("{s:i,s:s}", "id", toks[i], "piece", p ? p : ""));
                free(p);
            } else {
                json_array_append_new(a, json_integer(toks[i]));
            }
        }
        http_resp_json(r, 200, json_pack("{s:o}", "tokens", a));
    }
    free(toks);
    repo_release(mv);
    json_decref(root);
    return HTTP_DONE;
}

static int h_detokenize(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    json_t *root;
    if (tok_open(r, &root) < 0)
        return HTTP_DONE;
    json_t *toks = json_object_get(root, "tokens");
    if (!json_is_array(toks) || json_array_size(toks) > OAI_MAX_PROMPT_TOKENS) {
        json_decref(root);
        oai_error_from(r, INFERD_EINVAL, "tokens", "tokens: required, an array of token ids");
        return HTTP_DONE;
    }
    struct model_version *mv;
    struct llm_model *lm;
    if (oai_take_model(r, s, json_string_value(json_object_get(root, "model")), &mv, &lm) < 0) {
        json_decref(root);
        return HTTP_DONE;
    }
    size_t cap = json_array_size(toks) * 64 + 1, off = 0;
    char *text = malloc(cap);
    int bad = -1;
    for (size_t i = 0; text && i < json_array_size(toks); i++) {
        json_t *t = json_array_get(toks, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= lm->info->n_vocab) {
            bad = (int)i;
            break;
        }
        int n = inferd_llm_token_to_piece(lm->m, (int32_t)json_integer_value(t), text + off, cap - off - 1);
        if (n > 0 && (size_t)n <= cap - off - 1)
            off += (size_t)n;
    }
    if (!text) {
        oai_error_from(r, INFERD_ENOMEM, NULL, "out of memory");
    } else if (bad >= 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "tokens[%d]: not a token id of this model (0..%d)", bad, lm->info->n_vocab - 1);
        oai_error_from(r, INFERD_EINVAL, "tokens", msg);
    } else {
        char *clean = llm_utf8_sanitize(text, off, NULL);
        http_resp_json(r, 200, json_pack("{s:s}", "content", clean ? clean : ""));
        free(clean);
    }
    free(text);
    repo_release(mv);
    json_decref(root);
    return HTTP_DONE;
}

json_t *openai_model_object(struct model_version *mv)
{
    struct llm_model *lm = model_version_llm(mv, MODEL_CAP_GENERATE);
    if (!lm)
        return NULL;
    struct llm_sched_stats st;
    llm_sched_stats(lm->sched, &st);
    json_t *meta = json_object();
    json_object_set_new(meta, "version", json_string(mv->version_str));
    json_object_set_new(meta, "arch", json_string(lm->info->arch ? lm->info->arch : ""));
    json_object_set_new(meta, "n_vocab", json_integer(lm->info->n_vocab));
    json_object_set_new(meta, "n_ctx_train", json_integer(lm->info->n_ctx_train));
    json_object_set_new(meta, "n_embd", json_integer(lm->info->n_embd));
    json_object_set_new(meta, "n_params", json_integer((json_int_t)lm->info->n_params));
    json_object_set_new(meta, "n_ctx", json_integer(st.n_ctx));
    json_object_set_new(meta, "parallel", json_integer(st.n_seq));
    json_object_set_new(meta, "n_ctx_per_seq", json_integer(st.slot_ctx));
    json_object_set_new(meta, "prompt_tokens_computed", json_integer(st.prompt_tokens));
    json_object_set_new(meta, "prompt_tokens_reused", json_integer(st.reused_tokens));
    json_object_set_new(meta, "kv_unified", json_boolean(st.kv_unified));
    json_object_set_new(meta, "preemptions", json_integer(st.preemptions));
    json_object_set_new(meta, "prefix_cache",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "cap_bytes", (json_int_t)st.prefix_cap_bytes,
                                  "bytes", (json_int_t)st.prefix_bytes, "blocks", (json_int_t)st.prefix_blocks,
                                  "hits", (json_int_t)st.prefix_hits, "misses", (json_int_t)st.prefix_misses,
                                  "cached_tokens", (json_int_t)st.prefix_tokens,
                                  "evictions", (json_int_t)st.prefix_evictions));
    json_object_set_new(meta, "chat_template", json_string(chat_tmpl_name(lm->tmpl.family)));
    json_object_set_new(meta, "chat_template_source", json_string(lm->tmpl_source));
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(mv->name));
    json_object_set_new(e, "object", json_string("model"));
    json_object_set_new(e, "created", json_integer((json_int_t)lm->created));
    json_object_set_new(e, "owned_by", json_string("inferd"));
    json_object_set_new(e, "meta", meta);
    return e;
}

static int h_models(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    struct repo_entry *rows;
    size_t n;
    if (repo_list(s->repo, &rows, &n) < 0) {
        oai_error_from(r, INFERD_ENOMEM, NULL, "out of memory");
        return HTTP_DONE;
    }
    json_t *data = json_array();
    /* One entry per model (its newest loaded version), language models only. */
    for (size_t i = 0; i < n; i++) {
        const struct repo_entry *e = &rows[i];
        if (e->state != REPO_READY || !(e->caps & MODEL_CAP_GENERATE) || (i > 0 && !strcmp(rows[i - 1].name, e->name)))
            continue;
        struct model_version *mv;
        if (repo_acquire(s->repo, e->name, 0, &mv, NULL) < 0)
            continue;
        json_t *obj = openai_model_object(mv);
        if (obj)
            json_array_append_new(data, obj);
        repo_release(mv);
    }
    free(rows);
    http_resp_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
    return HTTP_DONE;
}

const struct http_route routes_openai_models[] = {
    {HTTP_GET, "/v1/models", HTTP_AUTH_INFER, h_models, "openai_models", oai_auth_error},
    {HTTP_POST, "/tokenize", HTTP_AUTH_INFER, h_tokenize, "openai_tokenize", oai_auth_error},
    {HTTP_POST, "/detokenize", HTTP_AUTH_INFER, h_detokenize, "openai_detokenize", oai_auth_error},
};
const size_t routes_openai_models_count = sizeof routes_openai_models / sizeof routes_openai_models[0];
