/* families.c — creates the metric families the inferd server and LLM engine update. */
#include "observe/families.h"

#include <stddef.h>

/* Request latency: 1 ms .. 60 s. */
static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
/* Batch sizes: powers of two up to 256. */
static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
/* Time to first token and LLM end-to-end: 10 ms .. 120 s. */
static const double ttft_buckets[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
                                      0.75, 1,     2.5,  5,     10,  20,   40,  80,  120};
/* Inter-token latency: 1 ms .. 2.5 s. */
static const double itl_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075,
                                     0.1,   0.15,   0.2,   0.3,  0.5,  0.75, 1,    2.5};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

enum { F_COUNTER, F_GAUGE, F_HIST };

struct family_spec {
    size_t offset;           /* of the pointer in struct metrics_inferd */
    int kind;
    const char *name;
    const char *help;
    const char *labels[4];
    size_t nlabels;
    const double *buckets;
    size_t nbuckets;
};

#define OFF(field) offsetof(struct metrics_inferd, field)
#define MV "model", "version"

static const struct family_spec specs[] = {
    {OFF(requests_total), F_COUNTER, "inferd_requests_total",
     "Inference requests answered, by model, version, protocol and HTTP status code.",
     {MV, "protocol", "code"}, 4, NULL, 0},
    {OFF(request_duration), F_HIST, "inferd_request_duration_seconds",
     "Time from request arrival to response, in seconds.", {MV}, 2, latency_buckets,
     NB(latency_buckets)},
    {OFF(queue_duration), F_HIST, "inferd_queue_duration_seconds",
     "Time a request waited in the scheduler queue, in seconds.", {MV}, 2, latency_buckets,
     NB(latency_buckets)},
    {OFF(compute_duration), F_HIST, "inferd_compute_duration_seconds",
     "Time spent in the engine computing a batch, in seconds.", {MV}, 2, latency_buckets,
     NB(latency_buckets)},
    {OFF(decode_duration), F_HIST, "inferd_decode_duration_seconds",
     "Time from the last request byte to the request queued: body parsed into tensors and "
     "checked, in seconds.", {MV}, 2, latency_buckets, NB(latency_buckets)},
    {OFF(batch_wait_duration), F_HIST, "inferd_batch_wait_duration_seconds",
     "The part of a request's queue time the engine was free: the batch filling, in seconds.", {MV}, 2,
     latency_buckets, NB(latency_buckets)},
    {OFF(encode_duration), F_HIST, "inferd_encode_duration_seconds",
     "Time to serialise the outputs into the response body, in seconds.", {MV}, 2,
     latency_buckets, NB(latency_buckets)},
    {OFF(batch_size), F_HIST, "inferd_batch_size", "Rows (batch dim) per engine execution.", {MV}, 2,
     batch_buckets, NB(batch_buckets)},
    {OFF(inflight_requests), F_GAUGE, "inferd_inflight_requests",
     "Requests being handled now.", {"model"}, 1, NULL, 0},
    {OFF(queue_depth), F_GAUGE, "inferd_queue_depth", "Requests waiting in the queue now.",
     {MV}, 2, NULL, 0},
    {OFF(models_loaded), F_GAUGE, "inferd_models_loaded", "Model versions loaded and ready.",
     {NULL}, 0, NULL, 0},
    {OFF(model_load_failures), F_COUNTER, "inferd_model_load_failures_total",
     "Model loads that failed.", {"model"}, 1, NULL, 0},
    {OFF(errors_total), F_COUNTER, "inferd_errors_total", "Errors by kind.", {"kind"}, 1,
     NULL, 0},
    {OFF(llm_ttft), F_HIST, "inferd_llm_time_to_first_token_seconds",
     "Time from LLM request arrival to its first generated token, in seconds.", {"model"}, 1,
     ttft_buckets, NB(ttft_buckets)},
    {OFF(llm_itl), F_HIST, "inferd_llm_inter_token_latency_seconds",
     "Time between consecutive generated tokens, in seconds.", {"model"}, 1, itl_buckets,
     NB(itl_buckets)},
    {OFF(llm_e2e), F_HIST, "inferd_llm_e2e_latency_seconds",
     "Time from LLM request arrival to its last token, in seconds.", {"model"}, 1,
     ttft_buckets, NB(ttft_buckets)},
    {OFF(llm_queue_time), F_HIST, "inferd_llm_queue_time_seconds",
     "Time an LLM request waited before its prefill started, in seconds.", {"model"}, 1,
     latency_buckets, NB(latency_buckets)},
    {OFF(llm_prompt_tokens), F_COUNTER, "inferd_llm_prompt_tokens_total",
     "Prompt tokens processed.", {"model"}, 1, NULL, 0},
    {OFF(llm_generation_tokens), F_COUNTER, "inferd_llm_generation_tokens_total",
     "Tokens generated.", {"model"}, 1, NULL, 0},
    {OFF(llm_running), F_GAUGE, "inferd_llm_requests_running",
     "LLM requests in the running batch now.", {"model"}, 1, NULL, 0},
    {OFF(llm_waiting), F_GAUGE, "inferd_llm_requests_waiting",
     "LLM requests waiting to be scheduled now.", {"model"}, 1, NULL, 0},
    {OFF(llm_kv_usage), F_GAUGE, "inferd_llm_kv_cache_usage_ratio",
     "Fraction of the KV cache in use (0..1).", {"model"}, 1, NULL, 0},
    {OFF(llm_preemptions), F_COUNTER, "inferd_llm_preemptions_total",
     "Running LLM requests paused for KV cache pages (recomputed when resumed).", {"model"}, 1, NULL, 0},
    {OFF(llm_prefix_hits), F_COUNTER, "inferd_llm_prefix_cache_hits_total",
     "Prompt lookups in the prefix cache that found blocks.", {"model"}, 1, NULL, 0},
    {OFF(llm_prefix_misses), F_COUNTER, "inferd_llm_prefix_cache_misses_total",
     "Prompt lookups in the prefix cache that found none.", {"model"}, 1, NULL, 0},
    {OFF(llm_prefix_tokens), F_COUNTER, "inferd_llm_prefix_cache_tokens_total",
     "Prompt tokens copied from the prefix cache instead of computed.", {"model"}, 1, NULL, 0},
    {OFF(llm_prefix_bytes), F_GAUGE, "inferd_llm_prefix_cache_bytes",
     "Bytes of KV blocks held by the prefix cache.", {"model"}, 1, NULL, 0},
    {OFF(llm_memory), F_GAUGE, "inferd_llm_memory_bytes",
     "Memory of a loaded LLM: weights mapped and resident (refreshed every 10 s), KV cache, scratch.",
     {"model", "part"}, 2, NULL, 0},
};

int metrics_inferd_register(struct metrics_registry *reg, struct metrics_inferd *m,
                            struct inferd_err *err)
{
    if (!reg || !m)
        return inferd_err_set(err, INFERD_EINVAL, "metrics: registry and struct are required");
    m->reg = reg;
    for (size_t i = 0; i < NB(specs); i++) {
        const struct family_spec *sp = &specs[i];
        struct metrics_family **slot = (struct metrics_family **)((char *)m + sp->offset);
        int rc;
        if (sp->kind == F_COUNTER)
            rc = metrics_counter_new(reg, sp->name, sp->help, sp->labels, sp->nlabels, slot, err);
        else if (sp->kind == F_GAUGE)
            rc = metrics_gauge_new(reg, sp->name, sp->help, sp->labels, sp->nlabels, slot, err);
        else
            rc = metrics_histogram_new(reg, sp->name, sp->help, sp->labels, sp->nlabels,
                                       sp->buckets, sp->nbuckets, slot, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}
