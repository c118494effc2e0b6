/* fuzz_serve_config.c — libFuzzer driver for a model's config.json parser (version
 * policy, batching, queue settings). Input: the file's bytes. */
#include "serve/repo/repo_config.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model_config c;
    struct inferd_err err = {0};
    if (model_config_parse((const char *)data, size, &c, &err) == 0) {
        /* invariants the repository relies on */
        if (c.n_versions > CONFIG_MAX_SPECIFIC || c.sched.n_preferred > SCHED_MAX_PREFERRED ||
            c.sched.max_queue_size < 1 || (c.sched.dynamic && c.sched.max_batch_size < 1))
            __builtin_trap();
        model_config_free(&c);
    }
    return 0;
}
