/* loop.c — the gateway's event loop: libcurl multi on one thread, a timer heap and a
 * posted-function queue (see loop.h). */
#include "gateway/loop.h"

#include "base/clock.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEAD_VALUE_MAX 128

struct gw_xfer {
    struct gw_loop *lp;
    struct gw_xfer *prev, *next;      /* the loop's list of transfers */
    CURL *easy;
    struct curl_slist *hdrs;
    struct gw_xfer_cb cb;
    void *ctx;
    uint64_t start_ns, first_byte_ns;
    long status;                      /* of the last status line */
    bool head_sent;                   /* on_head ran */
    bool in_cb;                       /* a callback of ours is on the stack */
    bool cancelled;                   /* cancelled inside a callback: abort, no more callbacks */
    bool paused;
    struct gw_timer *fb_timer;        /* first-byte deadline */
    char content_type[HEAD_VALUE_MAX];
    char retry_after[HEAD_VALUE_MAX];
    char ihcl[32];
    char errbuf[CURL_ERROR_SIZE];
};

struct gw_timer {
    uint64_t at_ns;
    uint64_t seq;                     /* ties broken by creation order */
    void (*fn)(void *arg);            /* NULL once cancelled */
    void *arg;
};

struct post {
    void (*fn)(void *arg);
    void *arg;
    struct post *next;
};

struct gw_loop {
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;               /* guards posts, stop */
    struct post *posts, *posts_tail;
    bool stop;
    struct gw_timer **heap;           /* min-heap by (at_ns, seq); loop thread only */
    size_t nheap, capheap;
    uint64_t seq;
    struct gw_xfer *xfers;            /* every transfer started and not freed */
    CURL *idle[64];                   /* easy handles kept for reuse (curl_easy_reset) */
    size_t nidle;
    atomic_int sleeping;              /* the loop is (about to be) in curl_multi_poll */
    atomic_long active;
};

/* ---- timers ---- */

static bool timer_less(const struct gw_timer *a, const struct gw_timer *b)
{
    return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}

static void heap_swap(struct gw_timer **h, size_t a, size_t b)
{
    struct gw_timer *t = h[a];
    h[a] = h[b];
    h[b] = t;
}

struct gw_timer *gw_timer_at(struct gw_loop *lp, uint64_t at_ns, void (*fn)(void *arg), void *arg)
{
    if (lp->nheap == lp->capheap) {
        size_t cap = lp->capheap ? lp->capheap * 2 : 64;
        struct gw_timer **h = realloc(lp->heap, cap * sizeof *h);
        if (!h)
            return NULL;
        lp->heap = h;
        lp->capheap = cap;
    }
    struct gw_timer *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    *t = (struct gw_timer){at_ns, lp->seq++, fn, arg};
    size_t i = lp->nheap++;
    lp->heap[i] = t;
    while (i > 0 && timer_less(lp->heap[i], lp->heap[(i - 1) / 2])) {
        heap_swap(lp->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return t;
}

void gw_timer_cancel(struct gw_timer *t)
{
    if (t)
        t->fn = NULL; /* freed when it reaches the top of the heap */
}

static struct gw_timer *heap_pop(struct gw_loop *lp)
{
    struct gw_timer *top = lp->heap[0];
    lp->heap[0] = lp->heap[--lp->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < lp->nheap && timer_less(lp->heap[l], lp->heap[m]))
            m = l;
        if (r < lp->nheap && timer_less(lp->heap[r], lp->heap[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(lp->heap, i, m);
        i = m;
    }
    return top;
}

/* Runs due timers; returns ms until the next one (capped at 1000). */
static int run_timers(struct gw_loop *lp)
{
    uint64_t now = clock_now_ns();
    while (lp->nheap && (lp->heap[0]->at_ns <= now || !lp->heap[0]->fn)) {
        struct gw_timer *t = heap_pop(lp);
        void (*fn)(void *) = t->fn;
        void *arg = t->arg;
        free(t);
        if (fn)
            fn(arg);
        now = clock_now_ns();
    }
    if (!lp->nheap)
        return 1000;
    uint64_t d = (lp->heap[0]->at_ns - now) / 1000000u + 1;
    return d > 1000 ? 1000 : (int)d;
}

/* ---- transfers ---- */

static void xfer_free(struct gw_xfer *x)
{
    gw_timer_cancel(x->fb_timer);
    if (x->prev)
        x->prev->next = x->next;
    else
        x->lp->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    curl_multi_remove_handle(x->lp->multi, x->easy);
    if (x->lp->nidle < sizeof x->lp->idle / sizeof x->lp->idle[0]) {
        curl_easy_reset(x->easy); /* options and state cleared; the multi keeps the connections */
        x->lp->idle[x->lp->nidle++] = x->easy;
    } else {
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->hdrs);
    atomic_fetch_sub(&x->lp->active, 1);
    free(x);
}

static void head_value(const char *line, size_t n, size_t name_len, char *out, size_t cap)
{
    const char *v = line + name_len;
    size_t left = n - name_len;
    while (left && (*v == ' ' || *v == '\t'))
        v++, left--;
    while (left && (v[left - 1] == '\r' || v[left - 1] == '\n' || v[left - 1] == ' '))
        left--;
    if (left >= cap)
        left = cap - 1;
    memcpy(out, v, left);
    out[left] = '\0';
}

static void send_head(struct gw_xfer *x)
{
    if (x->head_sent || x->cancelled)
        return;
    x->head_sent = true;
    if (x->cb.on_head) {
        struct gw_head h = {x->status, x->content_type, x->retry_after, x->ihcl};
        x->in_cb = true;
        x->cb.on_head(x->ctx, x, &h);
        x->in_cb = false;
    }
}

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
    struct gw_xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->content_type[0] = x->retry_after[0] = x->ihcl[0] = '\0';
    } else if (len >= 13 && strncasecmp(p, "content-type:", 13) == 0) {
        head_value(p, len, 13, x->content_type, sizeof x->content_type);
    } else if (len >= 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        head_value(p, len, 12, x->retry_after, sizeof x->retry_after);
    } else if (len >= 32 && strncasecmp(p, "inference-header-content-length:", 32) == 0) {
        head_value(p, len, 32, x->ihcl, sizeof x->ihcl);
    } else if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
        if (x->status >= 200)
            send_head(x);
    }
    return x->cancelled ? 0 : len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    struct gw_xfer *x = ud;
    size_t len = size * n;
    if (x->cancelled)
        return 0;
    if (!x->first_byte_ns) {
        x->first_byte_ns = clock_now_ns();
        gw_timer_cancel(x->fb_timer);
        x->fb_timer = NULL;
    }
    send_head(x);
    if (x->cancelled)
        return 0;
    int rc = 0;
    if (x->cb.on_data && len) {
        x->in_cb = true;
        rc = x->cb.on_data(x->ctx, x, p, len);
        x->in_cb = false;
    }
    if (x->cancelled || rc < 0)
        return 0; /* aborts the transfer */
    if (rc == 1)
        x->paused = true;
    return len;
}

/* No body byte by the first-byte deadline: the transfer ends here as a timeout (removed
 * from the multi at once; changing curl's own timeout of a running transfer would not
 * take effect before its next event). */
static void fb_timeout(void *arg)
{
    struct gw_xfer *x = arg;
    x->fb_timer = NULL;
    if (x->cancelled)
        return;
    struct gw_done d = {.failed = 1, .kind = "timeout", .msg = "no answer before the first-byte timeout",
                        .status = x->status};
    d.total_ms = d.first_byte_ms = (double)(clock_now_ns() - x->start_ns) / 1e6;
    if (x->cb.on_done) {
        x->in_cb = true;
        x->cb.on_done(x->ctx, x, &d);
        x->in_cb = false;
    }
    xfer_free(x);
}

struct gw_xfer *gw_xfer_start(struct gw_loop *lp, const struct gw_xfer_req *req, const struct gw_xfer_cb *cb,
                              void *ctx, struct inferd_err *err)
{
    struct gw_xfer *x = calloc(1, sizeof *x);
    if (!x) {
        inferd_err_set(err, INFERD_ENOMEM, "upstream call: out of memory");
        return NULL;
    }
    x->lp = lp;
    x->cb = *cb;
    x->ctx = ctx;
    x->easy = lp->nidle ? lp->idle[--lp->nidle] : curl_easy_init();
    if (!x->easy)
        goto fail;
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; h && req->headers && req->headers[i]; i++) {
        struct curl_slist *nh = curl_slist_append(h, req->headers[i]);
        if (!nh) {
            curl_slist_free_all(h);
            h = NULL;
        } else {
            h = nh;
        }
    }
    if (!h)
        goto fail;
    x->hdrs = h;
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 2000L);
    if (req->total_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->total_timeout_ms);
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    }
    x->start_ns = clock_now_ns();
    if (req->first_byte_timeout_ms > 0)
        x->fb_timer = gw_timer_at(lp, x->start_ns + (uint64_t)req->first_byte_timeout_ms * 1000000u, fb_timeout, x);
    if (curl_multi_add_handle(lp->multi, e) != CURLM_OK) {
        gw_timer_cancel(x->fb_timer);
        goto fail;
    }
    atomic_fetch_add(&lp->active, 1);
    x->next = lp->xfers;
    if (lp->xfers)
        lp->xfers->prev = x;
    lp->xfers = x;
    return x;
fail:
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    free(x);
    inferd_err_set(err, INFERD_ENOMEM, "upstream call: cannot start the transfer");
    return NULL;
}

void gw_xfer_cancel(struct gw_xfer *x)
{
    if (!x)
        return;
    if (x->in_cb) {
        x->cancelled = true; /* the callback returns 0: curl aborts, done_msgs frees it */
        return;
    }
    xfer_free(x);
}

void gw_xfer_resume(struct gw_xfer *x)
{
    if (x && x->paused) {
        x->paused = false;
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
}

static const char *kind_of(CURLcode c)
{
    if (c == CURLE_OPERATION_TIMEDOUT)
        return "timeout";
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "connect";
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return "reset";
    default:
        return "error";
    }
}

static void done_msgs(struct gw_loop *lp)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(lp->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct gw_xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode code = m->data.result;
        if (!x->cancelled) {
            uint64_t now = clock_now_ns();
            struct gw_done d = {0};
            d.failed = code != CURLE_OK;
            d.kind = d.failed ? kind_of(code) : "";
            d.msg = x->errbuf[0] ? x->errbuf : (d.failed ? curl_easy_strerror(code) : "");
            d.status = x->status;
            d.total_ms = (double)(now - x->start_ns) / 1e6;
            d.first_byte_ms = x->first_byte_ns ? (double)(x->first_byte_ns - x->start_ns) / 1e6 : d.total_ms;
            if (!d.failed && x->status >= 200)
                send_head(x); /* an empty body never reached write_cb */
            if (!x->cancelled && x->cb.on_done) {
                x->in_cb = true;
                x->cb.on_done(x->ctx, x, &d);
                x->in_cb = false;
            }
        }
        xfer_free(x);
    }
}

/* ---- the thread ---- */

static bool run_posts(struct gw_loop *lp)
{
    pthread_mutex_lock(&lp->mu);
    struct post *p = lp->posts;
    lp->posts = lp->posts_tail = NULL;
    bool stop = lp->stop;
    pthread_mutex_unlock(&lp->mu);
    while (p) {
        struct post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
    return stop;
}

static void *loop_main(void *arg)
{
    struct gw_loop *lp = arg;
    for (;;) {
        bool stop = run_posts(lp);
        if (stop)
            break;
        int running = 0;
        curl_multi_perform(lp->multi, &running);
        done_msgs(lp);
        int wait_ms = run_timers(lp);
        curl_multi_perform(lp->multi, &running);
        done_msgs(lp);
        /* posters wake the poll only while this is set (see gw_loop_post) */
        atomic_store(&lp->sleeping, 1);
        pthread_mutex_lock(&lp->mu);
        bool pending = lp->posts || lp->stop;
        pthread_mutex_unlock(&lp->mu);
        if (!pending)
            curl_multi_poll(lp->multi, NULL, 0, wait_ms, NULL);
        atomic_store(&lp->sleeping, 0);
    }
    return NULL;
}

int gw_loop_start(struct gw_loop **out, struct inferd_err *err)
{
    *out = NULL;
    struct gw_loop *lp = calloc(1, sizeof *lp);
    if (!lp)
        return inferd_err_set(err, INFERD_ENOMEM, "gateway loop: out of memory");
    lp->multi = curl_multi_init();
    if (!lp->multi) {
        free(lp);
        return inferd_err_set(err, INFERD_ENOMEM, "gateway loop: curl_multi_init failed");
    }
    curl_multi_setopt(lp->multi, CURLMOPT_MAXCONNECTS, 1024L);
    pthread_mutex_init(&lp->mu, NULL);
    if (pthread_create(&lp->thread, NULL, loop_main, lp) != 0) {
        curl_multi_cleanup(lp->multi);
        pthread_mutex_destroy(&lp->mu);
        free(lp);
        return inferd_err_set(err, INFERD_ENOMEM, "gateway loop: cannot start its thread");
    }
    *out = lp;
    return 0;
}

int gw_loop_post(struct gw_loop *lp, void (*fn)(void *arg), void *arg)
{
    struct post *p = malloc(sizeof *p);
    if (!p)
        return INFERD_ENOMEM;
    *p = (struct post){fn, arg, NULL};
    pthread_mutex_lock(&lp->mu);
    if (lp->posts_tail)
        lp->posts_tail->next = p;
    else
        lp->posts = p;
    lp->posts_tail = p;
    pthread_mutex_unlock(&lp->mu);
    /* A busy loop finds the post before it next polls: it sets sleeping, then looks at the
     * queue under mu; a poster that queued before that look is seen, one that queued after
     * it sees sleeping set (the mutex orders the two) and wakes the poll. */
    if (atomic_load(&lp->sleeping))
        curl_multi_wakeup(lp->multi);
    return 0;
}

long gw_loop_active(const struct gw_loop *lp)
{
    return atomic_load(&((struct gw_loop *)lp)->active);
}

void gw_loop_stop(struct gw_loop *lp)
{
    if (!lp)
        return;
    pthread_mutex_lock(&lp->mu);
    lp->stop = true;
    pthread_mutex_unlock(&lp->mu);
    curl_multi_wakeup(lp->multi);
    pthread_join(lp->thread, NULL);
    run_posts(lp); /* anything posted after the last round */
    /* transfers still running (probes; proxied calls were cut before): their owners hear
     * of it once, so that what they hold is released */
    while (lp->xfers) {
        struct gw_xfer *x = lp->xfers;
        if (!x->cancelled && x->cb.on_done) {
            struct gw_done d = {.failed = 1, .kind = "error", .msg = "the gateway is stopping", .status = x->status};
            x->cancelled = true; /* a cancel from inside the callback only marks it */
            x->in_cb = true;
            x->cb.on_done(x->ctx, x, &d);
        }
        xfer_free(x);
    }
    for (size_t i = 0; i < lp->nidle; i++)
        curl_easy_cleanup(lp->idle[i]);
    for (size_t i = 0; i < lp->nheap; i++)
        free(lp->heap[i]);
    free(lp->heap);
    curl_multi_cleanup(lp->multi);
    pthread_mutex_destroy(&lp->mu);
    free(lp);
}
