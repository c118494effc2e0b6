/* backend_gguf.h — a GGUF model as the repository serves it (the "gguf" backend): the engine
 * model, its continuous-batching scheduler, its chat template and default sampling, all
 * read from models/<name>/<v>/model.gguf and the model's config.json.
 *
 * config.json members read here, through repo_config's validators from the config the
 * repository parsed (all optional; the other members belong to repo_config):
 *   "context_size" | "n_ctx": KV positions in all (default parallel × the model's n_ctx_train)
 *   "parallel": sequences decoded together = slots (default 4)
 *   "n_batch": tokens per decode step (default 512)
 *   "max_queue_size": requests waiting beyond the slots (default 64)
 *   "prefix_cache_mb": cap of the prefix cache of KV blocks (default 256; 0 = off)
 *   "kv_type": "f16" (default), "f32" or "q8_0" for the KV cache
 *   "memory_budget_mb": refuse to load when weights + KV cache + scratch + the prefix cache
 *                       cap would exceed it (default: serve --memory-budget-mb, else none)
 *   "kv_unified": every sequence may use the whole context (shared pages; a full cache preempts)
 *   "chat_template": a family name ("chatml", "llama3", ...) overriding detection
 *   "max_tokens": default generation cap (default: until the sequence's context is full)
 *   "temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed": default sampling
 *   "embeddings": false turns off hidden-state keeping (then /v1/embeddings answers 400)
 *
 *   struct llm_model *lm = model_version_llm(mv, MODEL_CAP_GENERATE);  // a route does this
 *   if (!lm) answer 400;                       // not a language model
 *   llm_sched_submit(lm->sched, job, &err);
 */
#ifndef INFERD_SERVE_BACKEND_GGUF_H
#define INFERD_SERVE_BACKEND_GGUF_H

#include "inferd/llm.h"
#include "llm/chat_template.h"
#include "serve/repo/backend.h"
#include "serve/repo/repo_config.h"
#include "serve/sched/llm_sched.h"

#include <stdint.h>

struct llm_model {
    char name[128];                     /* models/<name>/... */
    struct inferd_llm_model *m;         /* owned */
    const struct inferd_llm_info *info; /* borrowed from m */
    struct llm_sched *sched;            /* owned */
    struct chat_tmpl tmpl;
    const char *tmpl_source;            /* "gguf", "config" or "fallback" (static) */
    struct inferd_llm_sampling defaults; /* OpenAI defaults overlaid with config.json */
    int max_tokens;                     /* config default; <= 0 = context-bound */
    int n_ctx, n_seq, embeddings;
    long long created;                  /* Unix seconds at load, for /v1/models */
};

/* Tokenizes text (add_special, parse_special as in inferd_llm_tokenize). OUT: *out
 * (malloc'd, caller frees), *n. Returns 0, INFERD_ETOOLARGE past cap tokens, INFERD_ENOMEM. */
int llm_model_tokenize(const struct llm_model *lm, const char *text, size_t len, int add_special,
                       int parse_special, int cap, int32_t **out, int *n, struct inferd_err *err);

#endif
