/* mem.c — the ONNX decoder's bump allocator: aligned blocks carved from malloc'd chunks,
 * all released by ox_mem_free. Large requests get a chunk of their own. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_int.h"

#define OX_MEM_CHUNK (64u * 1024u)

struct ox_chunk {
    struct ox_chunk *next;
    size_t used, cap;
    _Alignas(OX_ALIGN) unsigned char data[];
};

struct ox_mem {
    struct ox_chunk *head; /* chunk being filled; older ones follow */
};

struct ox_mem *ox_mem_new(void)
{
    return calloc(1, sizeof(struct ox_mem));
}

void ox_mem_free(struct ox_mem *m)
{
    if (!m)
        return;
    struct ox_chunk *c = m->head;
    while (c) {
        struct ox_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(m);
}

void *ox_mem_alloc(struct ox_mem *m, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + OX_ALIGN - 1) & ~(size_t)(OX_ALIGN - 1);
    struct ox_chunk *c = m->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > OX_MEM_CHUNK / 4 ? n : OX_MEM_CHUNK;
        struct ox_chunk *nc = aligned_alloc(OX_ALIGN, (sizeof *nc + cap + OX_ALIGN - 1) & ~(size_t)(OX_ALIGN - 1));
        if (!nc)
            return NULL;
        nc->used = 0;
        nc->cap = cap;
        if (c && cap != OX_MEM_CHUNK) {
            /* a big private chunk goes behind the current one so small blocks keep filling it */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            m->head = nc;
        }
        c = nc;
    }
    assert(c->cap - c->used >= n);
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *ox_mem_strdup(struct ox_mem *m, const void *s, size_t n)
{
    char *p = ox_mem_alloc(m, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
