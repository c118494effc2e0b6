/* discover_dns.c — the DNS discovery source: one thread that re-resolves a name every
 * interval with c-ares (SRV for "_service._proto.domain" names, else A and AAAA) and hands
 * the answer set to the gateway (discover.h).
 *
 * Outcome of one resolution (all its queries together):
 *   every query answered (NOERROR with records, NODATA or NXDOMAIN) -> fn(ctx, "dns:NAME", set)
 *       (NXDOMAIN / no records: the empty set — the records were removed)
 *   any query failed (timeout, SERVFAIL, REFUSED, unreachable, bad answer) -> no call, a log
 *       line (once per outage); the gateway keeps the last set
 *
 * A channel per address: id "dns-<host>-<ip>-<port>" and name <host>, where host is the
 * name itself for A/AAAA and the SRV target for SRV (so an id stays the same while the
 * target keeps its address and port).
 */
#include "gateway/discover.h"
#include "gateway/discover_parse.h"

#include "base/log.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DNS_INTERVAL_MS_DEFAULT 5000
#define DNS_POLL_SLICE_MS 100   /* the longest wait without looking at the stop flag */
#define DNS_QUERY_TIMEOUT_MS 1000
#define DNS_QUERY_TRIES 2

struct gw_dns {
    char *name;            /* owned copy of opts.name */
    char *protocol;        /* owned copy of opts.protocol ("inferd" when NULL) */
    int port;              /* for A/AAAA answers */
    int interval_ms;
    int srv;               /* name starts with '_': query SRV */
    int failing;           /* the last resolution failed (the thread's; logs once per outage) */
    char source[DISCOVER_HOST_MAX + 8]; /* "dns:NAME" */
    gw_sync_fn fn;
    void *ctx;
    ares_channel ch;       /* used by the thread only (after start) */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;    /* guards stop; cv waits on it */
    pthread_cond_t cv;     /* signalled by gw_dns_stop (CLOCK_MONOTONIC) */
    atomic_int stop;
};

/* The state of one resolution: the queries in flight and what they found. */
struct resolve {
    struct gw_dns *d;
    json_t *defs;          /* the set being built (owned) */
    int pending;           /* queries issued whose callback has not run */
    int failed;            /* an INFERD_E* code or ares status of the first failure; 0 = none */
    int answered;          /* queries that got an answer (records, NODATA or NXDOMAIN) */
    int soft_failed;       /* AAAA queries refused (or SERVFAIL) */
    char why[DISCOVER_HOST_MAX + 128]; /* what failed, for the log */
};

/* One A or AAAA query: for the name itself or an SRV target. */
struct addr_query {
    struct resolve *r;
    enum discover_rr type;
    int port;
    char host[DISCOVER_HOST_MAX];
};

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc;

static void ares_global_init(void)
{
    ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

static void fail_with(struct resolve *r, int status, const char *what, const char *host)
{
    if (r->failed)
        return;
    r->failed = status ? status : -1;
    snprintf(r->why, sizeof r->why, "%s %s: %s", what, host, ares_strerror(status));
}

/* NXDOMAIN and NODATA are answers (nothing there); everything else is a failure. */
static int is_answer(int status)
{
    return status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND;
}

static void on_addr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct addr_query *q = arg;
    struct resolve *r = q->r;
    (void)timeouts;
    r->pending--;
    if (is_answer(status))
        r->answered++;
    /* A server holding only A records for a name may refuse its AAAA query (dnsmasq does,
     * with no upstream): that is "no AAAA" when the same server answered something else,
     * which resolve_once checks. */
    if (q->type == DISCOVER_AAAA && (status == ARES_ECONNREFUSED || status == ARES_ESERVFAIL)) {
        if (!r->soft_failed)
            snprintf(r->why, sizeof r->why, "AAAA %s: %s", q->host, ares_strerror(status));
        r->soft_failed++;
    } else if (!is_answer(status)) {
        fail_with(r, status, q->type == DISCOVER_A ? "A" : "AAAA", q->host);
    } else if (status == ARES_SUCCESS) {
        int rc = discover_dns_addrs(abuf, alen, q->type, q->host, q->port, r->d->protocol, r->defs);
        if (rc < 0)
            fail_with(r, rc == INFERD_ENOMEM ? ARES_ENOMEM : ARES_EBADRESP, q->type == DISCOVER_A ? "A" : "AAAA",
                      q->host);
    }
    free(q);
}

static void query_addr(struct resolve *r, const char *host, int port, enum discover_rr type)
{
    struct addr_query *q = calloc(1, sizeof *q);
    if (!q) {
        fail_with(r, ARES_ENOMEM, "query", host);
        return;
    }
    q->r = r;
    q->type = type;
    q->port = port;
    snprintf(q->host, sizeof q->host, "%s", host);
    r->pending++;
    ares_query(r->d->ch, host, ns_c_in, type == DISCOVER_A ? ns_t_a : ns_t_aaaa, on_addr, q);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct resolve *r = arg;
    struct discover_srv *srv = NULL;
    int n = 0;
    (void)timeouts;
    r->pending--;
    if (is_answer(status))
        r->answered++;
    if (!is_answer(status)) {
        fail_with(r, status, "SRV", r->d->name);
        return;
    }
    if (status != ARES_SUCCESS)
        return; /* no records: the empty set */
    srv = malloc(DISCOVER_SRV_MAX * sizeof *srv);
    if (!srv) {
        fail_with(r, ARES_ENOMEM, "SRV", r->d->name);
        return;
    }
    int rc = discover_dns_srv(abuf, alen, srv, DISCOVER_SRV_MAX, &n);
    if (rc < 0) {
        fail_with(r, rc == INFERD_ENOMEM ? ARES_ENOMEM : ARES_EBADRESP, "SRV", r->d->name);
        n = 0;
    }
    /* The targets' addresses: our own queries rather than the additional section, which
     * resolvers may leave out. */
    for (int i = 0; i < n && !atomic_load(&r->d->stop); i++) {
        query_addr(r, srv[i].target, srv[i].port, DISCOVER_A);
        query_addr(r, srv[i].target, srv[i].port, DISCOVER_AAAA);
    }
    free(srv);
}

/* Runs the channel's queries until none is pending; on stop cancels them. */
static void run_queries(struct resolve *r)
{
    ares_channel ch = r->d->ch;
    while (r->pending > 0) {
        if (atomic_load(&r->d->stop)) {
            ares_cancel(ch); /* every callback runs with ARES_ECANCELLED */
            break;
        }
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            /* c-ares's ARES_GETSOCK_WRITABLE shifts a signed 1 into bit 31 for i = 15 (UB):
             * the same bits, read unsigned. */
            unsigned ub = (unsigned)bits;
            short ev = (short)(((ub >> i) & 1u ? POLLIN : 0) | ((ub >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? POLLOUT : 0));
            if (ev)
                pfd[n++] = (struct pollfd){.fd = socks[i], .events = ev};
        }
        struct timeval max = {0, DNS_POLL_SLICE_MS * 1000}, tv;
        struct timeval *t = ares_timeout(ch, &max, &tv);
        int ms = (int)(t->tv_sec * 1000 + t->tv_usec / 1000);
        int k = poll(pfd, (nfds_t)n, ms);
        if (k < 0 && errno != EINTR) {
            ares_cancel(ch); /* r is on the caller's stack: no callback may outlive this call */
            break;
        }
        if (k <= 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            ares_socket_t rd = pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD;
            ares_socket_t wr = pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD;
            ares_process_fd(ch, rd, wr);
        }
    }
}

/* One resolution of d->name; reports the set or logs the failure. */
static void resolve_once(struct gw_dns *d)
{
    struct resolve r = {.d = d, .defs = json_array()};
    if (!r.defs) {
        log_event(LOG_WARN, "dns discovery: out of memory", "name", d->name, NULL);
        return;
    }
    if (d->srv) {
        r.pending++;
        ares_query(d->ch, d->name, ns_c_in, ns_t_srv, on_srv, &r);
    } else {
        query_addr(&r, d->name, d->port, DISCOVER_A);
        query_addr(&r, d->name, d->port, DISCOVER_AAAA);
    }
    run_queries(&r);
    if (atomic_load(&d->stop)) {
        /* stopping: nothing to report */
    } else if (r.failed || r.pending || (r.soft_failed && !r.answered)) {
        if (!d->failing) /* once per outage, not once per interval */
            log_event(LOG_WARN, "dns discovery failed; keeping the last set", "source", d->source, "reason",
                      r.pending ? "resolver loop failed" : r.why, NULL);
        d->failing = 1;
    } else {
        if (d->failing)
            log_event(LOG_INFO, "dns discovery recovered", "source", d->source, NULL);
        d->failing = 0;
        discover_defs_sort_unique(r.defs);
        d->fn(d->ctx, d->source, r.defs);
    }
    json_decref(r.defs);
}

static void *dns_main(void *arg)
{
    struct gw_dns *d = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&d->mu);
    while (!atomic_load(&d->stop)) {
        pthread_mutex_unlock(&d->mu);
        resolve_once(d);
        pthread_mutex_lock(&d->mu);
        next.tv_sec += d->interval_ms / 1000;
        next.tv_nsec += (long)(d->interval_ms % 1000) * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
            next = now; /* a resolution longer than the interval: no catching up */
        while (!atomic_load(&d->stop) && pthread_cond_timedwait(&d->cv, &d->mu, &next) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static void dns_free(struct gw_dns *d)
{
    if (d->ch)
        ares_destroy(d->ch);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->name);
    free(d->protocol);
    free(d);
}

int gw_dns_start(const struct gw_dns_opts *o, gw_sync_fn fn, void *ctx, struct gw_dns **out,
                 struct inferd_err *err)
{
    struct gw_dns *d = NULL;
    pthread_condattr_t ca;
    int rc;
    if (!o || !o->name || !o->name[0] || !fn || !out)
        return inferd_err_set(err, INFERD_EINVAL, "dns discovery: a name and a callback are needed");
    if (strlen(o->name) >= DISCOVER_HOST_MAX)
        return inferd_err_set(err, INFERD_EINVAL, "dns discovery: name longer than %d bytes", DISCOVER_HOST_MAX - 1);
    if (o->name[0] != '_' && (o->port < 1 || o->port > 65535))
        return inferd_err_set(err, INFERD_EINVAL, "dns discovery %s: port %d is not in 1..65535 (A/AAAA answers "
                              "carry no port)", o->name, o->port);
    if (o->interval_ms < 0)
        return inferd_err_set(err, INFERD_EINVAL, "dns discovery %s: interval_ms %d is negative", o->name,
                              o->interval_ms);
    pthread_once(&ares_once, ares_global_init);
    if (ares_init_rc != ARES_SUCCESS)
        return inferd_err_set(err, INFERD_EIO, "dns discovery: c-ares: %s", ares_strerror(ares_init_rc));
    d = calloc(1, sizeof *d);
    if (!d)
        return inferd_err_set(err, INFERD_ENOMEM, "dns discovery: out of memory");
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&d->stop, 0);
    d->name = strdup(o->name);
    d->protocol = strdup(o->protocol ? o->protocol : "inferd");
    if (!d->name || !d->protocol) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "dns discovery: out of memory");
        goto fail;
    }
    d->port = o->port;
    d->interval_ms = o->interval_ms ? o->interval_ms : DNS_INTERVAL_MS_DEFAULT;
    d->srv = o->name[0] == '_';
    snprintf(d->source, sizeof d->source, "dns:%s", o->name);
    d->fn = fn;
    d->ctx = ctx;
    struct ares_options ao = {.timeout = DNS_QUERY_TIMEOUT_MS, .tries = DNS_QUERY_TRIES};
    int st = ares_init_options(&d->ch, &ao, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (st != ARES_SUCCESS) {
        d->ch = NULL;
        rc = inferd_err_set(err, INFERD_EIO, "dns discovery %s: c-ares: %s", o->name, ares_strerror(st));
        goto fail;
    }
    if (o->server && (st = ares_set_servers_ports_csv(d->ch, o->server)) != ARES_SUCCESS) {
        rc = inferd_err_set(err, INFERD_EINVAL, "dns discovery %s: resolver '%s': %s (want HOST:PORT)", o->name,
                            o->server, ares_strerror(st));
        goto fail;
    }
    if (pthread_create(&d->thread, NULL, dns_main, d) != 0) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "dns discovery %s: cannot start a thread", o->name);
        goto fail;
    }
    d->thread_started = 1;
    *out = d;
    return 0;
fail:
    dns_free(d);
    return rc;
}

void gw_dns_stop(struct gw_dns *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    atomic_store(&d->stop, 1);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (d->thread_started)
        pthread_join(d->thread, NULL);
    dns_free(d);
}
