/* openai_write.c — OpenAI response JSON: chat.completion, text_completion, their stream
 * chunks, embeddings lists and error objects. */
#include "serve/routes/openai_wire.h"

#include "base/utf8.h"

#include <math.h>
#include <nettle/base64.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *llm_utf8_sanitize(const char *src, size_t n, size_t *out_len)
{
    if (!memchr(src, 0, n))
        return utf8_sanitize(src, n, out_len);
    /* U+0000 becomes U+FFFD as well: callers pass the result on as a C string */
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    size_t cap = n * 3 + 1, o = 0;
    char *d = malloc(cap);
    if (!d)
        return NULL;
    for (size_t i = 0; i <= n;) {
        const char *nul = memchr(src + i, 0, n - i);
        size_t seg = nul ? (size_t)(nul - (src + i)) : n - i;
        o += utf8_sanitize_into(d + o, cap - o, src + i, seg);
        if (!nul)
            break;
        memcpy(d + o, UTF8_REPLACEMENT, 3);
        o += 3;
        d[o] = '\0';
        i += seg + 1;
    }
    if (out_len)
        *out_len = o;
    return d;
}

static json_t *str_json(const char *s, size_t n)
{
    size_t len;
    char *c = llm_utf8_sanitize(s ? s : "", s ? n : 0, &len);
    if (!c)
        return NULL;
    json_t *j = json_stringn(c, len);
    free(c);
    return j;
}

static json_t *bytes_json(const char *s, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

/* chat shape: {"content":[{token, logprob, bytes, top_logprobs:[{token, logprob, bytes}]}]} */
static json_t *chat_logprobs(const struct llm_oai_out *o, llm_oai_piece_fn piece, void *pctx)
{
    json_t *content = json_array();
    char buf[256];
    for (int i = 0; i < o->n_toks; i++) {
        const struct llm_tok_rec *r = &o->toks[i];
        int n = piece(pctx, r->id, buf, sizeof buf);
        n = n < 0 ? 0 : n > (int)sizeof buf ? (int)sizeof buf : n;
        json_t *top = json_array();
        for (int k = 0; k < r->n_top; k++) {
            char tb[256];
            int tn = piece(pctx, r->top_id[k], tb, sizeof tb);
            tn = tn < 0 ? 0 : tn > (int)sizeof tb ? (int)sizeof tb : tn;
            json_array_append_new(top, json_pack("{s:o,s:f,s:o}", "token", str_json(tb, (size_t)tn), "logprob",
                                                 (double)r->top_lp[k], "bytes", bytes_json(tb, tn)));
        }
        json_array_append_new(content, json_pack("{s:o,s:f,s:o,s:o}", "token", str_json(buf, (size_t)n), "logprob",
                                                 (double)r->logprob, "bytes", bytes_json(buf, n), "top_logprobs", top));
    }
    return json_pack("{s:o}", "content", content);
}

/* completions shape: {tokens:[], token_logprobs:[], top_logprobs:[{tok: lp}], text_offset:[]} */
static json_t *completion_logprobs(const struct llm_oai_out *o, size_t base_off, llm_oai_piece_fn piece, void *pctx)
{
    json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    char buf[256];
    size_t poff = 0; /* echoed prompt tokens: offsets are their pieces' running length */
    for (int i = 0; i < o->n_prompt_toks + o->n_toks; i++) {
        int prompt = i < o->n_prompt_toks;
        const struct llm_tok_rec *r = prompt ? &o->prompt_toks[i] : &o->toks[i - o->n_prompt_toks];
        int n = piece(pctx, r->id, buf, sizeof buf);
        n = n < 0 ? 0 : n > (int)sizeof buf ? (int)sizeof buf : n;
        json_array_append_new(toks, str_json(buf, (size_t)n));
        if (prompt && isnan(r->logprob)) { /* the first prompt token: nothing predicts it */
            json_array_append_new(lps, json_null());
            json_array_append_new(tops, json_null());
            json_array_append_new(offs, json_integer((json_int_t)poff));
            poff += (size_t)n;
            continue;
        }
        json_array_append_new(lps, json_real(r->logprob));
        json_t *top = json_object();
        for (int k = 0; k < r->n_top; k++) {
            char tb[256];
            int tn = piece(pctx, r->top_id[k], tb, sizeof tb);
            tn = tn < 0 ? 0 : tn > (int)sizeof tb ? (int)sizeof tb : tn;
            char *key = llm_utf8_sanitize(tb, (size_t)tn, NULL);
            if (key && !json_object_get(top, key))
                json_object_set_new(top, key, json_real(r->top_lp[k]));
            free(key);
        }
        json_array_append_new(tops, top);
        if (prompt) {
            json_array_append_new(offs, json_integer((json_int_t)poff));
            poff += (size_t)n;
        } else {
            json_array_append_new(offs, json_integer((json_int_t)(r->text_off - base_off + o->echo_len)));
        }
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs);
}

json_t *llm_oai_usage(const struct llm_oai_out *o)
{
    return json_pack("{s:i,s:i,s:i,s:{s:i}}", "prompt_tokens", o->prompt_tokens, "completion_tokens",
                     o->completion_tokens, "total_tokens", o->prompt_tokens + o->completion_tokens,
                     "prompt_tokens_details", "cached_tokens", o->cached_tokens);
}

static json_t *finish_json(const char *f) { return f ? json_string(f) : json_null(); }

json_t *llm_oai_response_n(const struct llm_oai_req *q, const struct llm_oai_out *outs, int n, const char *id,
                           long long created, const char *model, llm_oai_piece_fn piece, void *pctx)
{
    json_t *choices = json_array();
    struct llm_oai_out total = {0};
    for (int i = 0; i < n; i++) {
        const struct llm_oai_out *o = &outs[i];
        json_t *lp = q->logprobs ? (q->kind == LLM_OAI_CHAT ? chat_logprobs(o, piece, pctx)
                                                             : completion_logprobs(o, 0, piece, pctx))
                                 : json_null();
        json_t *choice;
        if (q->kind == LLM_OAI_CHAT)
            choice = json_pack("{s:i,s:{s:s,s:o},s:o,s:o}", "index", i, "message", "role", "assistant", "content",
                               str_json(o->text, o->len), "logprobs", lp, "finish_reason",
                               finish_json(o->finish_reason));
        else
            choice = json_pack("{s:i,s:o,s:o,s:o}", "index", i, "text", str_json(o->text, o->len), "logprobs", lp,
                               "finish_reason", finish_json(o->finish_reason));
        json_array_append_new(choices, choice);
        total.prompt_tokens += o->prompt_tokens;
        total.completion_tokens += o->completion_tokens;
        total.cached_tokens += o->cached_tokens;
    }
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:o,s:o}", "id", id, "object",
                     q->kind == LLM_OAI_CHAT ? "chat.completion" : "text_completion", "created", (json_int_t)created,
                     "model", model, "system_fingerprint", "inferd", "choices", choices, "usage", llm_oai_usage(&total));
}

json_t *llm_oai_response(const struct llm_oai_req *q, const struct llm_oai_out *o, const char *id,
                         long long created, const char *model, llm_oai_piece_fn piece, void *pctx)
{
    return llm_oai_response_n(q, o, 1, id, created, model, piece, pctx);
}

char *llm_oai_sse(json_t *j)
{
    if (!j)
        return NULL;
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body)
        return NULL;
    size_t n = strlen(body);
    char *out = malloc(n + 9);
    if (out) {
        memcpy(out, "data: ", 6);
        memcpy(out + 6, body, n);
        memcpy(out + 6 + n, "\n\n", 3);
    }
    free(body);
    return out;
}

char *llm_oai_chunk(const struct llm_oai_req *q, const struct llm_oai_out *o, int role_chunk,
                    const char *id, long long created, const char *model, llm_oai_piece_fn piece,
                    void *pctx)
{
    json_t *choice;
    int chat = q->kind == LLM_OAI_CHAT;
    json_t *lp = q->logprobs && o->n_toks > 0 ? (chat ? chat_logprobs(o, piece, pctx)
                                                      : completion_logprobs(o, o->toks[0].text_off, piece, pctx))
                                              : json_null();
    if (chat) {
        json_t *delta = json_object();
        if (role_chunk) {
            json_object_set_new(delta, "role", json_string("assistant"));
            json_object_set_new(delta, "content", json_string(""));
        } else if (o->len > 0) {
            json_object_set_new(delta, "content", str_json(o->text, o->len));
        }
        choice = json_pack("{s:i,s:o,s:o,s:o}", "index", o->index, "delta", delta, "logprobs", lp, "finish_reason",
                           finish_json(o->finish_reason));
    } else {
        choice = json_pack("{s:i,s:o,s:o,s:o}", "index", o->index, "text", str_json(o->text, o->len), "logprobs", lp,
                           "finish_reason", finish_json(o->finish_reason));
    }
    json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:[o]}", "id", id, "object",
                          chat ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)created, "model",
                          model, "system_fingerprint", "inferd", "choices", choice);
    if (j && q->include_usage)
        json_object_set_new(j, "usage", json_null());
    return llm_oai_sse(j);
}

char *llm_oai_tool_chunk(const struct llm_oai_req *q, const json_t *calls, int choice, const char *id, long long created,
                         const char *model)
{
    json_t *arr = json_array(), *call;
    size_t i;
    json_array_foreach(calls, i, call) {
        json_t *d = json_deep_copy(call);
        if (d && !json_object_get(d, "index")) /* a delta of one call names its index */
            json_object_set_new(d, "index", json_integer((json_int_t)i));
        json_array_append_new(arr, d);
    }
    json_t *ch = json_pack("{s:i,s:{s:o},s:n,s:n}", "index", choice, "delta", "tool_calls", arr, "logprobs",
                           "finish_reason");
    json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:[o]}", "id", id, "object", "chat.completion.chunk", "created",
                          (json_int_t)created, "model", model, "system_fingerprint", "inferd", "choices", ch);
    if (j && q->include_usage)
        json_object_set_new(j, "usage", json_null());
    return llm_oai_sse(j);
}

char *llm_oai_usage_chunk(const struct llm_oai_req *q, const struct llm_oai_out *o, const char *id,
                          long long created, const char *model)
{
    return llm_oai_sse(json_pack("{s:s,s:s,s:I,s:s,s:s,s:[],s:o}", "id", id, "object",
                         q->kind == LLM_OAI_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                         (json_int_t)created, "model", model, "system_fingerprint", "inferd", "choices", "usage",
                         llm_oai_usage(o)));
}

/* The floats' bytes (little-endian float32, as OpenAI sends them) in standard base64. */
static json_t *base64_floats(const float *v, int n)
{
    size_t len = (size_t)n * sizeof *v;
    char *s = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
    if (!s)
        return NULL;
    base64_encode_raw(s, len, (const uint8_t *)v);
    s[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

json_t *llm_oai_embeddings(const struct llm_oai_req *q, const float *const *embs, int n, int n_embd,
                           const char *model, int prompt_tokens)
{
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        json_t *e;
        if (q->base64) {
            e = base64_floats(embs[i], n_embd);
        } else {
            e = json_array();
            for (int k = 0; k < n_embd; k++)
                json_array_append_new(e, json_real(embs[i][k]));
        }
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", i, "embedding", e));
    }
    return json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data, "model", model, "usage",
                     "prompt_tokens", prompt_tokens, "total_tokens", prompt_tokens);
}

json_t *llm_oai_error(const char *message, const char *type, const char *param, const char *code)
{
    return json_pack("{s:{s:o,s:s,s:o,s:o}}", "error", "message", str_json(message, strlen(message)), "type", type,
                     "param", param && *param ? json_string(param) : json_null(), "code",
                     code ? json_string(code) : json_null());
}
