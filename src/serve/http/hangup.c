/* hangup.c — one epoll thread that notices clients closing suspended connections. */
#include "serve/http/hangup.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct watch_slot {
    int used;
    int fd;             /* -1: tracked only */
    uint32_t gen;       /* bumped on every reuse, so a stale event is ignored */
    hangup_fn fn;       /* NULL once fired */
    void *arg;
};

struct hangup_watch {
    pthread_mutex_t lock;   /* guards slots and every hook call */
    struct watch_slot *slots;
    int max, next;          /* next: where the search for a free slot starts */
    int ep;                 /* epoll set of the watched sockets + the stop eventfd */
    int stop_fd;
    pthread_t thread;
};

#define STOP_TAG UINT64_MAX

/* Runs slot i's hook once and stops watching its socket. Caller holds w->lock. */
static void fire(struct hangup_watch *w, int i)
{
    struct watch_slot *s = &w->slots[i];
    if (s->fd >= 0) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd, NULL);
        s->fd = -1;
    }
    hangup_fn fn = s->fn;
    s->fn = NULL;
    if (fn)
        fn(s->arg);
}

static void *watch_main(void *arg)
{
    struct hangup_watch *w = arg;
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(w->ep, ev, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return NULL;
        for (int k = 0; k < n; k++) {
            if (ev[k].data.u64 == STOP_TAG)
                return NULL;
            int i = (int)(ev[k].data.u64 & 0xffffffffu);
            uint32_t gen = (uint32_t)(ev[k].data.u64 >> 32);
            pthread_mutex_lock(&w->lock);
            if (i < w->max && w->slots[i].used && w->slots[i].gen == gen)
                fire(w, i);
            pthread_mutex_unlock(&w->lock);
        }
    }
}

int hangup_watch_new(int max, struct hangup_watch **out, struct inferd_err *err)
{
    struct hangup_watch *w = calloc(1, sizeof *w);
    if (!w)
        return inferd_err_set(err, INFERD_ENOMEM, "http: out of memory");
    w->max = max > 0 ? max : 1;
    w->ep = w->stop_fd = -1;
    w->slots = calloc((size_t)w->max, sizeof *w->slots);
    if (!w->slots)
        goto nomem;
    pthread_mutex_init(&w->lock, NULL);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_TAG};
    if (w->ep < 0 || w->stop_fd < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->stop_fd, &ev) < 0 ||
        pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        if (w->ep >= 0)
            close(w->ep);
        if (w->stop_fd >= 0)
            close(w->stop_fd);
        pthread_mutex_destroy(&w->lock);
        free(w->slots);
        free(w);
        return inferd_err_set(err, INFERD_EIO, "http: cannot start the hang-up watcher");
    }
    *out = w;
    return 0;
nomem:
    free(w);
    return inferd_err_set(err, INFERD_ENOMEM, "http: out of memory");
}

void hangup_watch_free(struct hangup_watch *w)
{
    if (!w)
        return;
    uint64_t one = 1;
    if (write(w->stop_fd, &one, sizeof one) != (ssize_t)sizeof one)
        abort(); /* an eventfd write of 1 cannot fail short of a bug */
    pthread_join(w->thread, NULL);
    close(w->ep);
    close(w->stop_fd);
    pthread_mutex_destroy(&w->lock);
    free(w->slots);
    free(w);
}

int hangup_watch_add(struct hangup_watch *w, int fd, hangup_fn fn, void *arg)
{
    pthread_mutex_lock(&w->lock);
    int i = -1;
    for (int k = 0; k < w->max && i < 0; k++) {
        int c = (w->next + k) % w->max;
        if (!w->slots[c].used)
            i = c;
    }
    if (i >= 0) {
        struct watch_slot *s = &w->slots[i];
        s->used = 1;
        s->gen++;
        s->fn = fn;
        s->arg = arg;
        s->fd = -1;
        w->next = (i + 1) % w->max;
        struct epoll_event ev = {.events = EPOLLRDHUP, .data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)i};
        if (fn && fd >= 0 && epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) == 0)
            s->fd = fd;
    }
    pthread_mutex_unlock(&w->lock);
    return i;
}

void hangup_watch_remove(struct hangup_watch *w, int handle)
{
    if (handle < 0)
        return;
    pthread_mutex_lock(&w->lock);
    assert(handle < w->max && w->slots[handle].used);
    struct watch_slot *s = &w->slots[handle];
    if (s->fd >= 0)
        epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd, NULL);
    s->fd = -1;
    s->fn = NULL;
    s->used = 0;
    pthread_mutex_unlock(&w->lock);
}

void hangup_watch_fire_all(struct hangup_watch *w)
{
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < w->max; i++)
        if (w->slots[i].used)
            fire(w, i);
    pthread_mutex_unlock(&w->lock);
}
