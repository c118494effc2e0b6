/* packs.c — a model's repacked operands (op->pack: conv weight panels, Winograd-transformed
 * weights, GEMM panels, int8 row terms), shared by its plans. Each plan (one per set of input
 * shapes: batch 1, 2, 3... under dynamic batching, up to OX_MAX_PLANS) packs its steps'
 * constant operands when it is built; a pack equal, byte for byte, to one the store already
 * holds for the same node is dropped and the held one used, so a model keeps one copy of each
 * layout however many plans it has (a layout that depends on the batch, e.g. a conv that
 * takes Winograd at one batch and the GEMM at another, is held once per layout).
 *
 * Entries are reference-counted: each plan step reading one holds a reference, released by
 * ox_plan_free (ox_packs_put). A plan built without a store (ox_ctx.packs NULL) makes its own
 * and frees it with itself. The store's lock covers entries only: plans of one model are
 * built and freed by the caller that owns the model (inferd_onnx_run is not reentrant). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_int.h"

struct pack_entry {
    const struct ox_node *node;
    size_t bytes;
    float *data;
    int refs;
};

struct ox_packs {
    pthread_mutex_t mu;
    struct pack_entry *e;
    int n, cap;
    size_t bytes; /* held: the sum of the entries' bytes */
};

struct ox_packs *ox_packs_new(void)
{
    struct ox_packs *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->mu, NULL);
    return s;
}

void ox_packs_free(struct ox_packs *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->e[i].data);
    free(s->e);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const float *ox_packs_get(struct ox_packs *s, const struct ox_node *n, float *buf, size_t bytes)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++) {
        struct pack_entry *e = &s->e[i];
        if (e->node == n && e->bytes == bytes && memcmp(e->data, buf, bytes) == 0) {
            e->refs++;
            pthread_mutex_unlock(&s->mu);
            free(buf);
            return e->data;
        }
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        struct pack_entry *ne = realloc(s->e, (size_t)cap * sizeof *ne);
        if (!ne) {
            pthread_mutex_unlock(&s->mu);
            free(buf);
            return NULL;
        }
        s->e = ne;
        s->cap = cap;
    }
    s->e[s->n++] = (struct pack_entry){.node = n, .bytes = bytes, .data = buf, .refs = 1};
    s->bytes += bytes;
    pthread_mutex_unlock(&s->mu);
    return buf;
}

void ox_packs_put(struct ox_packs *s, const float *data)
{
    if (!s || !data)
        return;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++) {
        struct pack_entry *e = &s->e[i];
        if (e->data != data)
            continue;
        if (--e->refs == 0) {
            s->bytes -= e->bytes;
            free(e->data);
            *e = s->e[--s->n];
        }
        break;
    }
    pthread_mutex_unlock(&s->mu);
}

size_t ox_packs_bytes(struct ox_packs *s)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&s->mu);
    size_t b = s->bytes;
    pthread_mutex_unlock(&s->mu);
    return b;
}
