/* infer_call.h — one inference as a route runs it: take a model version, build the
 * request, queue it on the version's scheduler, answer from the scheduler thread.
 *
 *   struct infer_call *c;
 *   if (infer_call_new(r, srv, model, version, &c) < 0) return HTTP_DONE;  // error sent
 *   ... build q from the body using c->mv->in[] ...
 *   return infer_call_submit(c, q, encode_fn, proto_state);
 *
 * encode(c, job) runs on the scheduler thread with the job's output views and must set
 * the HTTP response (http_resp_*); it must not block. The call and its model reference
 * are released when the HTTP request ends, never on the scheduler thread.
 */
#ifndef INFERD_SERVE_INFER_CALL_H
#define INFERD_SERVE_INFER_CALL_H

#include "serve/serve_int.h"

struct infer_call;
typedef void (*infer_encode_fn)(struct infer_call *c, struct sched_job *job);

struct infer_call {
    struct http_req *http;        /* the request being answered */
    struct serve_server *srv;
    struct model_version *mv;     /* reference held until the request ends */
    struct infer_req *q;          /* owned */
    struct sched_job job;
    infer_encode_fn encode;
    void *proto;                  /* protocol state for encode (owned by the call: freed with free()) */
    int error_status;             /* status used for errors: 400 etc. */
    int predict_style;            /* /predict: errors as {"status":"error","error":...} */
    double decode_ms;             /* last body byte to queued (parse + checks) */
};

/* Parses the version capture, takes the model version, labels the request. OUT: *out.
 * Returns 0, or <0 after setting the error response. */
int infer_call_new(struct http_req *r, struct serve_server *s, const char *model, const char *version,
                   int predict_style, struct infer_call **out);
/* Checks q against the model, sets its deadline, queues it. Takes ownership of q and
 * proto. Returns HTTP_ASYNC when queued, HTTP_DONE after setting an error response. */
int infer_call_submit(struct infer_call *c, struct infer_req *q, infer_encode_fn encode, void *proto);
/* Refuses (413, in the call's style) a JSON body holding more scalars than the model's
 * inputs can take at --max-elements each, before anything parses it. Returns 0, or -1
 * after setting the error response. */
int infer_call_prescan(struct infer_call *c, const char *body, size_t len);
/* Bodies at least this big are parsed on the server's parse queue (serve_defer_large). */
#define SERVE_DEFER_BYTES (1u << 20)
/* Runs handler(r, s) here when r's body is under SERVE_DEFER_BYTES; otherwise on a thread
 * of s->parse_q (so a multi-megabyte JSON parse never holds an HTTP worker, whose other
 * connections include health checks) and returns HTTP_ASYNC; that thread finishes the
 * request when handler returns HTTP_DONE. A full queue is answered 503 + Retry-After
 * (in /predict's style when predict_style). handler must not rely on running on an MHD
 * thread. Returns HTTP_DONE or HTTP_ASYNC. */
int serve_defer_large(struct http_req *r, struct serve_server *s, int predict_style, http_handler_fn handler);
/* Sets an error response in the call's style from code and message. */
void infer_call_error(struct infer_call *c, int code, const char *msg);
/* Same for a request without a call (predict-style when predict_style). */
void serve_error(struct http_req *r, int predict_style, int code, const char *msg);

#endif
