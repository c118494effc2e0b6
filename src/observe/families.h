/* families.h — the ready-made metric families the inferd server and LLM engine update.
 *
 * metrics_inferd_register creates every family below in a registry once, at server start;
 * the server keeps the struct and updates series from it on each request. Label order is
 * the order given in each comment. Durations are seconds, sizes are bytes or counts.
 *
 *   struct metrics_inferd m;
 *   metrics_inferd_register(reg, &m, &err);
 *   metrics_add(metrics_series_get(m.requests_total,
 *                   (const char *[]){"resnet", "1", "v2", "200"}), 1);
 *   metrics_observe(metrics_series_get(m.request_duration, (const char *[]){"resnet", "1"}),
 *                   0.012);
 */
#ifndef INFERD_METRICS_FAMILIES_H
#define INFERD_METRICS_FAMILIES_H

#include "observe/metrics.h"

/* All pointers are owned by the registry they were created in. */
struct metrics_inferd {
    struct metrics_registry *reg;               /* the registry the families are in */
    /* serving */
    struct metrics_family *requests_total;      /* counter {model,version,protocol,code} */
    struct metrics_family *request_duration;    /* histogram seconds {model,version} */
    struct metrics_family *queue_duration;      /* histogram seconds {model,version} */
    struct metrics_family *compute_duration;    /* histogram seconds {model,version} */
    struct metrics_family *decode_duration;     /* histogram seconds {model,version} */
    struct metrics_family *batch_wait_duration; /* histogram seconds {model,version} */
    struct metrics_family *encode_duration;     /* histogram seconds {model,version} */
    struct metrics_family *batch_size;          /* histogram requests {model,version} */
    struct metrics_family *inflight_requests;   /* gauge {model} */
    struct metrics_family *queue_depth;         /* gauge {model,version} */
    struct metrics_family *models_loaded;       /* gauge {} */
    struct metrics_family *model_load_failures; /* counter {model} */
    struct metrics_family *errors_total;        /* counter {kind} */
    /* LLM serving */
    struct metrics_family *llm_ttft;            /* histogram seconds {model} */
    struct metrics_family *llm_itl;             /* histogram seconds {model} */
    struct metrics_family *llm_e2e;             /* histogram seconds {model} */
    struct metrics_family *llm_queue_time;      /* histogram seconds {model} */
    struct metrics_family *llm_prompt_tokens;   /* counter {model} */
    struct metrics_family *llm_generation_tokens; /* counter {model} */
    struct metrics_family *llm_running;         /* gauge {model} */
    struct metrics_family *llm_waiting;         /* gauge {model} */
    struct metrics_family *llm_kv_usage;        /* gauge ratio 0..1 {model} */
    struct metrics_family *llm_preemptions;     /* counter {model} */
    struct metrics_family *llm_prefix_hits;     /* counter {model}: lookups that found blocks */
    struct metrics_family *llm_prefix_misses;   /* counter {model}: lookups that found none */
    struct metrics_family *llm_prefix_tokens;   /* counter {model}: prompt tokens it supplied */
    struct metrics_family *llm_prefix_bytes;    /* gauge bytes {model} */
    struct metrics_family *llm_memory;          /* gauge bytes {model, part}: weights_mapped,
                                                   weights_resident, kv_cache, scratch */
};

/* Creates every family above in reg (names as in docs/observe.md, e.g.
 * inferd_requests_total, inferd_llm_time_to_first_token_seconds) and fills *m.
 * Returns 0, INFERD_EINVAL (a name already taken in reg) or INFERD_ENOMEM. */
int metrics_inferd_register(struct metrics_registry *reg, struct metrics_inferd *m,
                            struct inferd_err *err);

/* Registers the standard process_* families (cpu seconds, resident/virtual memory bytes,
 * open/max fds, start time) and a collector that refreshes them from /proc at each
 * exposition. Returns 0, INFERD_EINVAL, INFERD_ENOMEM or INFERD_EIO (no /proc). */
int metrics_process_register(struct metrics_registry *reg, struct inferd_err *err);

#endif
