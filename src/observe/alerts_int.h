/* alerts_int.h — the alert set's private structs, shared by alerts.c (rules, evaluation,
 * JSON), alerts_notify.c (receivers, payloads, the notifier thread) and alerts_load.c. */
#ifndef INFERD_ALERTS_INT_H
#define INFERD_ALERTS_INT_H

#include "observe/alerts.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#define ALERTS_FIELD_MAX 128
#define ALERTS_URL_MAX 512

struct alerts_sample {
    double t;                                /* monotonic seconds */
    double num, den;                         /* value / rate numerator / ratio denominator */
    double counts[METRICS_MAX_BUCKETS + 1];  /* quantile rules: per-bucket counts */
};

struct alerts_rule {
    struct alert_rule r;                     /* strings point into the buffers below */
    char name[ALERTS_NAME_MAX], metric[ALERTS_FIELD_MAX], den[ALERTS_FIELD_MAX];
    char match[2 * ALERTS_MAX_MATCH][ALERTS_FIELD_MAX];
    char den_match[2 * ALERTS_MAX_MATCH][ALERTS_FIELD_MAX];
    char labels[2 * ALERTS_MAX_LABELS][ALERTS_FIELD_MAX];   /* name, value (severity incl.) */
    size_t nlabels;
    char annot_names[ALERTS_MAX_LABELS][ALERTS_FIELD_MAX];
    char annot_tmpl[ALERTS_MAX_LABELS][ALERTS_TEXT_MAX];
    size_t nannot;
    struct alerts_sample *hist;              /* ring of ALERTS_HISTORY (owned; not for value) */
    size_t head, count;                      /* next slot, samples held */
    double *bl_t, *bl_v;                     /* anomaly: ring of ALERTS_BASELINE rate points */
    size_t bl_head, bl_count;
    double bl_last;                          /* when the last baseline point was kept */
    enum alert_state state;
    double since;                            /* when the condition began to hold */
    double value;                            /* last computed value (NaN: no data) */
};

/* One queued notification: a POST body for one receiver. */
struct alerts_msg {
    struct alerts_msg *next;
    size_t len;
    char body[];                             /* NUL-terminated JSON */
};

struct alerts_receiver {
    int alertmanager;                        /* 1: Alertmanager v2 API; 0: plain webhook */
    char origin[ALERTS_URL_MAX];             /* scheme://[user:pass@]host:port */
    char label[ALERTS_URL_MAX];              /* origin without user:pass@: metrics, logs */
    char path[ALERTS_URL_MAX];               /* POSTed to */
    struct inferd_client *client;            /* owned; no retries of its own */
    struct alerts_msg *head, *tail;          /* FIFO (owned), under qlock */
    size_t len;
    int inflight;                            /* head is being sent: never dropped */
    double next_try, backoff;                /* retry schedule after a failure */
    int failing;                             /* an outage has been logged */
    struct metrics_series *sent, *failed, *dropped, *queue;
};

struct alerts {
    struct metrics_registry *reg;            /* borrowed */
    pthread_mutex_t lock;                    /* guards rules' state (eval vs json) */
    struct alerts_rule *rules[ALERTS_MAX_RULES]; /* owned */
    size_t nrules;
    char ext[2 * ALERTS_MAX_LABELS][ALERTS_FIELD_MAX]; /* external labels: name, value */
    size_t next;
    double resend_s;                         /* Alertmanager resend interval */
    size_t queue_max;                        /* per receiver */
    char external_url[ALERTS_URL_MAX];       /* generatorURL base; "" = none */
    int interval_ms_cfg;                     /* the file's interval_s (0 = none) */
    int interval_ms;                         /* the running evaluation interval */
    double last_am;                          /* last send to Alertmanagers (-1: never) */
    double mono0, wall0_ms;                  /* clock pair to turn monotonic into wall time */
    /* notifier: receivers and their queues */
    struct alerts_receiver recv[ALERTS_MAX_WEBHOOKS];
    size_t nrecv;
    pthread_mutex_t qlock;                   /* guards the queues and qstop */
    pthread_cond_t qwake;
    pthread_t qthread;
    int qrunning, qstop;
    struct metrics_family *f_sent, *f_dropped, *f_queue;
    /* evaluation thread */
    pthread_t thread;
    int running;                             /* the thread exists */
    int stop;                                /* asks it to end (under lock) */
    pthread_cond_t wake;
};

/* A change found by one evaluation, turned into payloads outside the rules' lock. */
struct alerts_change {
    const struct alerts_rule *rule;          /* rules are never removed: safe unlocked */
    enum alert_state state;                  /* ALERT_FIRING, or ALERT_INACTIVE = resolved */
    int changed;                             /* 1: new firing/resolved; 0: a resend */
    double value, since, now;
};

/* Wall-clock ms of monotonic time t. */
double alerts__wall_ms(const struct alerts *a, double t);
/* The alert's labels object (alertname, rule labels, external labels). New reference. */
json_t *alerts__labels(const struct alerts *a, const struct alerts_rule *r);
/* The alert's annotations with templates expanded. New reference. */
json_t *alerts__annotations(const struct alerts_rule *r, json_t *labels, double value);
/* Queues the payloads for changes[n] (evaluation at now; resend: the Alertmanagers are due).
 * Runs outside the rules' lock. */
void alerts__notify(struct alerts *a, const struct alerts_change *changes, size_t n);
/* Registers the notifier's families (or finds them). Returns 0 or an error. */
int alerts__families(struct alerts *a, struct inferd_err *err);
/* Stops the notifier thread and frees the receivers and their queues. */
void alerts__notify_free(struct alerts *a);

#endif
