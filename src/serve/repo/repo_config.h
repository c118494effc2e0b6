/* repo_config.h — a model's config.json (Triton-like) and a version's manifest.json.
 *
 * config.json (every member optional):
 *   {"backend":"onnx", "max_batch_size":8, "max_queue_size":64,
 *    "dynamic_batching":{"preferred_batch_size":[4,8],"max_queue_delay_microseconds":500},
 *    "version_policy":{"latest":{"num_versions":1}} | {"all":{}} | {"specific":{"versions":[1,3]}}}
 * manifest.json, in a version folder: {"files":{"model.onnx":{"sha256":"<hex>","size":N}, ...}}
 * (or the older {"files":{"model.onnx":"<sha256 hex>"}}); parsed by pack/manifest.h
 *
 *   struct model_config c;
 *   if (model_config_load("models/mlp", &c, &err) < 0) log err.msg;
 *   if (manifest_verify("models/mlp/1", "model.onnx", &err) < 0) refuse;
 */
#ifndef INFERD_SERVE_REPO_CONFIG_H
#define INFERD_SERVE_REPO_CONFIG_H

#include "inferd/err.h"
#include "serve/sched/sched.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum version_policy { POLICY_LATEST, POLICY_ALL, POLICY_SPECIFIC };

#define CONFIG_MAX_SPECIFIC 32

struct model_config {
    char backend[32];               /* "" = by model file */
    enum version_policy policy;
    int num_versions;               /* POLICY_LATEST */
    int64_t versions[CONFIG_MAX_SPECIFIC]; /* POLICY_SPECIFIC */
    int n_versions;
    struct sched_config sched;      /* batching and queue (metrics series left NULL) */
    json_t *json;                   /* the whole object (owned; {} without a file): members
                                       a backend reads itself, through config_int ... */
};

/* Reads dir/config.json (at most 1 MiB) into c; a missing file gives the defaults (latest 1,
 * no batching, max_queue_size 1024). On success free c with model_config_free. Returns 0 or
 * EINVAL/EFORMAT/ETOOLARGE with a message naming the member (c then needs no free). */
int model_config_load(const char *dir, struct model_config *c, struct inferd_err *err);
/* Same from a string (for tests and fuzzing). */
int model_config_parse(const char *json, size_t len, struct model_config *c, struct inferd_err *err);
/* Drops c->json. NULL is a no-op. */
void model_config_free(struct model_config *c);

/* A backend's own members of config.json, one validator each; an absent member leaves
 * *out as it is. Each returns 0 or INFERD_EINVAL with "config.json: <key>: <why>". */
int config_int(const struct model_config *c, const char *key, int lo, int hi, int *out, struct inferd_err *err);
int config_float(const struct model_config *c, const char *key, double lo, double hi, float *out,
                 struct inferd_err *err);
int config_bool(const struct model_config *c, const char *key, int *out, struct inferd_err *err);
/* Copies a string member (at most cap - 1 bytes) into out. */
int config_string(const struct model_config *c, const char *key, char *out, size_t cap, struct inferd_err *err);

/* When dir/manifest.json exists: checks the size and sha256 of every file it lists
 * (pack_manifest_check) and that model_file is listed. Returns 0 (also when there is no manifest) or EFORMAT naming the
 * file whose digest differs, ENOTFOUND for a listed file that is missing. */
int manifest_verify(const char *dir, const char *model_file, struct inferd_err *err);

/* sha256 of a file as 64 lowercase hex characters + NUL. Returns 0 or EIO. */
int sha256_file_hex(const char *path, char hex[65], struct inferd_err *err);

#endif
