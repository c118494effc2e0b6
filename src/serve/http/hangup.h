/* hangup.h — noticing that a client went away while its request waits suspended.
 *
 * libmicrohttpd does not look at a suspended connection's socket, so a client that closes
 * its connection during a long non-streamed generation would keep its KV-cache slot busy
 * until the answer is ready. One watcher thread per server holds the sockets of requests
 * that wait for work (from their first suspension to their completion) in an epoll set
 * (EPOLLRDHUP: the peer closed or shut down its sending side) and runs the request's
 * hang-up hook when one closes. The hook only flags work to stop (cancel a job); the
 * work's own completion resumes and ends the request as usual. At shutdown every hook runs.
 *
 *   struct hangup_watch *w;  hangup_watch_new(4096, &w, &err);
 *   int h = hangup_watch_add(w, fd, cancel_job, job);     // when it first waits
 *   hangup_watch_remove(w, h);                            // when the request completes
 *   hangup_watch_free(w);
 *
 * Threading: add/remove/fire_all from any thread. A hook runs on the watcher thread (or
 * the caller of fire_all) under the watcher's lock: after hangup_watch_remove returns, the
 * hook is not running and never will, so its argument may be freed.
 */
#ifndef INFERD_SERVE_HTTP_HANGUP_H
#define INFERD_SERVE_HTTP_HANGUP_H

#include "inferd/err.h"

struct hangup_watch;

typedef void (*hangup_fn)(void *arg);

/* Starts a watcher for up to max sockets at once. OUT: *out. Returns 0 or INFERD_ENOMEM /
 * INFERD_EIO (epoll, thread). */
int hangup_watch_new(int max, struct hangup_watch **out, struct inferd_err *err);
/* Stops the thread and frees. NULL is a no-op. */
void hangup_watch_free(struct hangup_watch *w);
/* Tracks a suspended request with its hook fn(arg) (may be NULL), and watches fd for the
 * peer closing when fd >= 0 (fd < 0: tracked only; hangup_watch_fire_all still runs fn).
 * fn runs at most once. Returns a handle >= 0, or -1 when the table is full (then nothing
 * is tracked). */
int hangup_watch_add(struct hangup_watch *w, int fd, hangup_fn fn, void *arg);
/* Forgets handle (< 0 is a no-op). */
void hangup_watch_remove(struct hangup_watch *w, int handle);
/* Runs every tracked hook now, as if each client had gone (server shutdown: cut what
 * waits). */
void hangup_watch_fire_all(struct hangup_watch *w);

#endif
