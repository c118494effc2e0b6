/* keys.c — the gateway's inference keys: per-key token-bucket rate limits and request and
 * token quotas, kept in SQLite (store.h) and mirrored in memory for the hot path.
 *
 * With no stored key and no --api-key-file the inference routes are open. Otherwise a
 * request needs "Authorization: Bearer <key>": a stored key (limits apply) or one from the
 * key file (no limits). Keys are compared by their sha256, over every key, so the time
 * taken does not say which key nearly matched. */
#include "gateway/gw_int.h"

#include "base/clock.h"

#include <stdlib.h>
#include <string.h>

struct key_list {
    struct gw_key *keys;
    size_t n;
};

static void add_key(void *ctx, const struct gw_key_row *k, const char *hash)
{
    struct key_list *l = ctx;
    struct gw_key *t = realloc(l->keys, (l->n + 1) * sizeof *t);
    if (!t)
        return;
    l->keys = t;
    struct gw_key *n = &l->keys[l->n++];
    memset(n, 0, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", k->id);
    snprintf(n->hash, sizeof n->hash, "%s", hash);
    n->rate_per_s = k->rate_per_s;
    n->burst = k->burst > 0 ? k->burst : (k->rate_per_s > 0 ? k->rate_per_s : 1);
    n->tokens_avail = n->burst;
    n->last_refill_ns = clock_now_ns();
    n->quota_requests = k->quota_requests;
    n->quota_tokens = k->quota_tokens;
    n->used_requests = k->used_requests;
    n->used_tokens = k->used_tokens;
}

int gw_keys_load(struct gw *g, struct inferd_err *err)
{
    /* gw_store_each_key holds the store's lock, not ours: collect, then swap in */
    struct key_list l = {0};
    int rc = gw_store_each_key(g->store, add_key, &l, err);
    pthread_mutex_lock(&g->mu);
    free(g->keys);
    g->keys = l.keys;
    g->nkeys = l.n;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* Constant-time equality of two 64-character hex strings. */
static int hash_eq(const char *a, const char *b)
{
    unsigned char d = 0;
    for (int i = 0; i < 64; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int gw_keys_admit(struct gw *g, const char *authorization, char key_id[65], double *retry_after_s,
                  struct inferd_err *err)
{
    key_id[0] = '\0';
    *retry_after_s = 0;
    pthread_mutex_lock(&g->mu);
    size_t nkeys = g->nkeys;
    pthread_mutex_unlock(&g->mu);
    if (nkeys == 0 && !g->infer_keys)
        return 0;
    if (!authorization || strncmp(authorization, "Bearer ", 7) != 0 || !authorization[7])
        return inferd_err_set(err, INFERD_EAUTH,
                              authorization ? "Authorization: expected \"Bearer <key>\""
                                            : "Authorization: missing; this gateway needs an API key");
    if (g->infer_keys && keyring_check(g->infer_keys, authorization, NULL) == 0) {
        snprintf(key_id, 65, "file");
        return 0;
    }
    char hex[65];
    gw_store_key_hash(authorization + 7, hex);
    int rc = 0;
    pthread_mutex_lock(&g->mu);
    struct gw_key *k = NULL;
    for (size_t i = 0; i < g->nkeys; i++)
        if (hash_eq(g->keys[i].hash, hex) && !k)
            k = &g->keys[i];
    if (!k) {
        rc = inferd_err_set(err, INFERD_EAUTH, "Authorization: unknown API key");
        goto out;
    }
    snprintf(key_id, 65, "%s", k->id);
    if (k->quota_requests > 0 && k->used_requests >= k->quota_requests) {
        *retry_after_s = 3600;
        rc = inferd_err_set(err, INFERD_EBUSY, "key \"%s\": request quota of %lld used up", k->id,
                            (long long)k->quota_requests);
        goto out;
    }
    if (k->quota_tokens > 0 && k->used_tokens >= k->quota_tokens) {
        *retry_after_s = 3600;
        rc = inferd_err_set(err, INFERD_EBUSY, "key \"%s\": token quota of %lld used up", k->id,
                            (long long)k->quota_tokens);
        goto out;
    }
    if (k->rate_per_s > 0) {
        uint64_t now = clock_now_ns();
        k->tokens_avail += k->rate_per_s * (double)(now - k->last_refill_ns) / 1e9;
        if (k->tokens_avail > k->burst)
            k->tokens_avail = k->burst;
        k->last_refill_ns = now;
        if (k->tokens_avail < 1) {
            *retry_after_s = (1 - k->tokens_avail) / k->rate_per_s;
            rc = inferd_err_set(err, INFERD_EBUSY, "key \"%s\": over its rate of %g requests/s (burst %g)", k->id,
                                k->rate_per_s, k->burst);
            goto out;
        }
        k->tokens_avail -= 1;
    }
    k->used_requests++;
out:
    pthread_mutex_unlock(&g->mu);
    if (rc == 0 && key_id[0])
        gw_store_add_usage(g->store, key_id, 1, 0);
    return rc;
}

void gw_keys_charge(struct gw *g, const char *key_id, int64_t tokens)
{
    if (tokens <= 0 || strcmp(key_id, "file") == 0)
        return;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nkeys; i++)
        if (strcmp(g->keys[i].id, key_id) == 0)
            g->keys[i].used_tokens += tokens;
    pthread_mutex_unlock(&g->mu);
    gw_store_add_usage(g->store, key_id, 0, tokens);
}
