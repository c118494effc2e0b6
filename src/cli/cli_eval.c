/* cli_eval.c — `inferd eval`: probe endpoints (liveness, readiness, the models they serve),
 * send each model N canary requests (gateway/eval.h), compare the answers across endpoints
 * (the answer most endpoints agree on is the reference) and print a table or JSON with a
 * recommendation per endpoint and model. Exit 0 when every row is good, 1 otherwise, 2 on
 * usage errors. */
#include "cli.h"

#include "base/clock.h"
#include "gateway/eval.h"

#include "inferd/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_URLS_MAX 64       /* endpoints per run */
#define EVAL_MODELS_MAX 256    /* models per run (--model or discovered) */
#define EVAL_TRIES_MAX 100     /* --tries */
#define EVAL_TOL 1e-3          /* answer tolerance (gw_answer_equal) */
#define EVAL_SLOW_FACTOR 3.0   /* p95 this many times the other endpoints' median... */
#define EVAL_SLOW_MIN_MS 20.0  /* ...and this many ms above it is "slow" */
#define EVAL_KEY_FILE_MAX 4096 /* bytes of --api-key-file */
#define EVAL_TEXT_MAX (INFERD_ERR_MSG_MAX + 32) /* bytes of an error or why kept per row */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inferd eval URL [URL...] [options]\n"
            "  Probes each endpoint (inferd, Triton/KServe v2 or OpenAI-compatible): liveness,\n"
            "  readiness, the models it serves; sends each model N canary requests (a fixed\n"
            "  input built from the model's metadata, or a chat completion at temperature 0)\n"
            "  and compares the answers across endpoints: the answer most endpoints agree on is\n"
            "  the reference. Prints one row per endpoint and model; progress goes to stderr.\n"
            "  Exit status: 0 when every row is good, 1 when any is not, 2 on usage errors.\n"
            "options:\n"
            "  --model M            evaluate model M (repeatable; default: every model found)\n"
            "  --tries N            canary requests per endpoint and model (default 5, max %d)\n"
            "  --timeout SECONDS    deadline of each request (default 10)\n"
            "  --api-key-file F     bearer key: the first non-empty line of F\n"
            "                       (default: $INFERD_API_KEY)\n"
            "  --json               print the results as JSON instead of a table\n"
            "  -h, --help           this text\n",
            EVAL_TRIES_MAX);
}

/* One endpoint: what the probes found. */
struct ev_endpoint {
    const char *url;               /* borrowed from argv */
    struct inferd_client *c;       /* owned */
    bool live, ready, openai_only; /* openai_only: no /v2 routes, /v1/models answered */
    bool listed;                   /* the models it serves are known (else every model
                                    * found elsewhere is tried on it) */
    char error[EVAL_TEXT_MAX];     /* why it is not live / its models are unknown */
    json_t *v2_models;             /* owned: names (strings) of tensor models */
    json_t *chat_models;           /* owned: names of models /v1/models lists */
};

/* One endpoint and model: the tries and the verdict. */
struct ev_row {
    size_t ep;                       /* index into the endpoints */
    const char *model;               /* borrowed from the model list */
    const char *kind;                /* "v2", "chat" or "-" */
    int tries, ok;                   /* requests meant and those answered with a key */
    double *ms;                      /* owned: latency of each successful try */
    double p50, p95;                 /* of ms; NAN when no try succeeded */
    json_t *key;                     /* owned: the first successful answer's key */
    bool unstable;                   /* successful tries disagreed with each other */
    char error[EVAL_TEXT_MAX];       /* the last failure, "" when none */
    char quality[EVAL_TEXT_MAX + 40];
    char rec[EVAL_TEXT_MAX + 80];
    bool good;
};

static bool has_name(const json_t *arr, const char *name)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

static void add_name(json_t *arr, const char *name, size_t cap)
{
    if (name && *name && !has_name(arr, name) && json_array_size(arr) < cap)
        json_array_append_new(arr, json_string(name));
}

/* The first non-empty line of path, whitespace trimmed. OUT: malloc'd (caller frees), or
 * NULL with a message printed. */
static char *read_key_file(const char *path)
{
    char text[EVAL_KEY_FILE_MAX + 1];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "inferd eval: --api-key-file: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t n = fread(text, 1, sizeof text, f);
    bool too_big = n > EVAL_KEY_FILE_MAX;
    fclose(f);
    if (too_big) {
        fprintf(stderr, "inferd eval: --api-key-file: %s is larger than %d bytes\n", path, EVAL_KEY_FILE_MAX);
        return NULL;
    }
    text[n] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len && line[0] != '#')
            return strdup(line);
    }
    fprintf(stderr, "inferd eval: --api-key-file: %s holds no key\n", path);
    return NULL;
}

/* "/v2/models/<escaped name>" into out. Returns 0, or -1 when it does not fit. */
static int model_path(const char *prefix, const char *model, char *out, size_t cap)
{
    char *esc = curl_easy_escape(NULL, model, 0);
    int n = esc ? snprintf(out, cap, "%s%s", prefix, esc) : -1;
    curl_free(esc);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Liveness, readiness and the model lists of one endpoint; one progress line on stderr. */
static void probe(struct ev_endpoint *e, size_t idx, size_t n)
{
    struct inferd_response r = {0};
    struct inferd_err err = {0}, err2 = {0};
    size_t i;
    const json_t *v;
    e->v2_models = json_array();
    e->chat_models = json_array();
    if (inferd_client_get_json(e->c, "/v2/health/live", &r, &err) == 0) {
        e->live = true;
    } else {
        inferd_response_clear(&r);
        if (inferd_client_get_json(e->c, "/v1/models", &r, &err2) == 0) {
            e->live = e->ready = e->openai_only = true;
        } else {
            /* the v2 probe's error unless it was a 404 (an OpenAI-only server's) */
            snprintf(e->error, sizeof e->error, "%s", err.code == INFERD_ENOTFOUND ? err2.msg : err.msg);
        }
    }
    inferd_response_clear(&r);
    if (e->live && !e->openai_only) {
        e->ready = inferd_client_get_json(e->c, "/v2/health/ready", &r, &err) == 0;
        inferd_response_clear(&r);
        json_t *body = json_object();
        if (inferd_client_post_json(e->c, "/v2/repository/index", body, &r, &err) == 0 &&
            json_is_array(r.json)) {
            e->listed = true;
            json_array_foreach(r.json, i, v)
            {
                const char *state = json_string_value(json_object_get(v, "state"));
                if (!state || strcmp(state, "READY") == 0)
                    add_name(e->v2_models, json_string_value(json_object_get(v, "name")), EVAL_MODELS_MAX);
            }
        } else {
            snprintf(e->error, sizeof e->error, "repository index: %s", err.msg);
        }
        json_decref(body);
        inferd_response_clear(&r);
    }
    if (e->live && inferd_client_get_json(e->c, "/v1/models", &r, &err) == 0) {
        /* a v2 server answers /v1/models too (with its LLMs only): its list is only whole
         * when the repository index answered */
        e->listed = e->listed || e->openai_only;
        json_array_foreach(json_object_get(r.json, "data"), i, v)
        {
            add_name(e->chat_models, json_string_value(json_object_get(v, "id")), EVAL_MODELS_MAX);
        }
    }
    inferd_response_clear(&r);
    /* a model both lists name is an LLM: its canary is a chat */
    for (i = json_array_size(e->v2_models); i-- > 0;)
        if (has_name(e->chat_models, json_string_value(json_array_get(e->v2_models, i))))
            json_array_remove(e->v2_models, i);

    fprintf(stderr, "eval [%zu/%zu] %s: ", idx + 1, n, e->url);
    if (!e->live) {
        fprintf(stderr, "not live (%s)\n", e->error);
        return;
    }
    fprintf(stderr, "live, %s", e->ready ? "ready" : "not ready");
    if (e->openai_only)
        fprintf(stderr, ", OpenAI-compatible only");
    fprintf(stderr, ", %zu model(s)", json_array_size(e->v2_models) + json_array_size(e->chat_models));
    json_array_foreach(e->v2_models, i, v)
    {
        fprintf(stderr, "%s%s", i ? " " : ": ", json_string_value(v));
    }
    json_array_foreach(e->chat_models, i, v)
    {
        fprintf(stderr, "%s%s (chat)", i || json_array_size(e->v2_models) ? " " : ": ", json_string_value(v));
    }
    if (!e->listed)
        fprintf(stderr, " (%s)", e->error);
    fprintf(stderr, "\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, int n, double p)
{
    if (n <= 0)
        return NAN;
    int k = (int)ceil(p * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* The N canary requests of one row: fills ok, ms, key, unstable, error. */
static void run_tries(struct ev_endpoint *e, struct ev_row *row, const json_t *req)
{
    for (int t = 0; t < row->tries; t++) {
        struct inferd_response r = {0};
        struct inferd_err err = {0};
        uint64_t t0 = clock_now_ns();
        int rc = strcmp(row->kind, "chat") == 0
                     ? inferd_client_post_json(e->c, "/v1/chat/completions", req, &r, &err)
                     : inferd_client_infer_v2(e->c, row->model, NULL, req, &r, &err);
        double ms = (double)(clock_now_ns() - t0) / 1e6;
        json_t *key = rc == 0 ? gw_answer_key(r.json, &err) : NULL;
        inferd_response_clear(&r);
        if (!key) {
            snprintf(row->error, sizeof row->error, "%s", err.msg);
            continue;
        }
        row->ms[row->ok++] = ms;
        if (!row->key) {
            row->key = key;
            continue;
        }
        char why[EVAL_TEXT_MAX];
        if (!row->unstable && !gw_answer_equal(row->key, key, EVAL_TOL, why, sizeof why)) {
            row->unstable = true;
            snprintf(row->quality, sizeof row->quality, "bad (unstable across tries: %s)", why);
        }
        json_decref(key);
    }
    qsort(row->ms, (size_t)row->ok, sizeof row->ms[0], cmp_double);
    row->p50 = percentile(row->ms, row->ok, 0.50);
    row->p95 = percentile(row->ms, row->ok, 0.95);
}

/* Builds the canary for a row and runs its tries. Rows of endpoints that are not live are
 * not tried: every try counts as failed with the liveness error. */
static void eval_row(struct ev_endpoint *e, struct ev_row *row, bool explicit_model)
{
    struct inferd_response r = {0};
    struct inferd_err err = {0};
    json_t *req = NULL;
    char path[INFERD_CLIENT_URL_MAX];
    row->p50 = row->p95 = NAN;
    if (!e->live) {
        /* the endpoint's reason, cut to fit after the prefix */
        snprintf(row->error, sizeof row->error, "not live: %.*s", (int)(sizeof row->error - sizeof "not live: "),
                 e->error);
        return;
    }
    if (!strcmp(row->kind, "chat")) {
        req = gw_canary_chat_request(row->model);
    } else if (model_path("/v2/models/", row->model, path, sizeof path) < 0) {
        snprintf(row->error, sizeof row->error, "model name too long");
    } else if (inferd_client_get_json(e->c, path, &r, &err) < 0) {
        snprintf(row->error, sizeof row->error, "%s: %s",
                 err.code == INFERD_ENOTFOUND && explicit_model ? "not served" : "metadata", err.msg);
    } else {
        req = gw_canary_v2_request(r.json, &err);
        if (!req)
            snprintf(row->error, sizeof row->error, "no canary: %s", err.msg);
    }
    inferd_response_clear(&r);
    if (!req) {
        row->tries = 0;
        return;
    }
    run_tries(e, row, req);
    json_decref(req);
}

/* Quality per row: per model, the keys are grouped by gw_answer_equal; the largest group is
 * the reference; a tie for the largest means no reference. */
static void judge_quality(struct ev_row *rows, size_t nrows, const char *model)
{
    size_t best = SIZE_MAX;
    int best_n = 0, keyed = 0;
    bool tie = false;
    for (size_t i = 0; i < nrows; i++) {
        if (strcmp(rows[i].model, model) != 0 || !rows[i].key || rows[i].unstable)
            continue;
        int n = 0;
        keyed++;
        for (size_t j = 0; j < nrows; j++)
            if (!strcmp(rows[j].model, model) && rows[j].key && !rows[j].unstable &&
                gw_answer_equal(rows[i].key, rows[j].key, EVAL_TOL, NULL, 0))
                n++;
        if (n > best_n) {
            best_n = n;
            best = i;
            tie = false;
        } else if (n == best_n && !gw_answer_equal(rows[best].key, rows[i].key, EVAL_TOL, NULL, 0)) {
            tie = true;
        }
    }
    for (size_t i = 0; i < nrows; i++) {
        struct ev_row *r = &rows[i];
        char why[EVAL_TEXT_MAX];
        if (strcmp(r->model, model) != 0 || r->unstable)
            continue;
        if (!r->key)
            snprintf(r->quality, sizeof r->quality, "-");
        else if (keyed == 1)
            snprintf(r->quality, sizeof r->quality, "good (no other endpoint to compare)");
        else if (tie) {
            gw_answer_equal(rows[best].key, r->key, EVAL_TOL, why, sizeof why);
            snprintf(r->quality, sizeof r->quality, "unsure (no majority%s%s)", why[0] ? ": " : "", why);
        } else if (gw_answer_equal(rows[best].key, r->key, EVAL_TOL, why, sizeof why))
            snprintf(r->quality, sizeof r->quality, "good");
        else
            snprintf(r->quality, sizeof r->quality, "bad (%s)", why);
    }
}

/* The median p95 of the other endpoints' rows for the same model, NAN when none. */
static double others_p95(const struct ev_row *rows, size_t nrows, size_t self)
{
    double v[EVAL_URLS_MAX];
    int n = 0;
    for (size_t i = 0; i < nrows && n < EVAL_URLS_MAX; i++)
        if (i != self && !strcmp(rows[i].model, rows[self].model) && !isnan(rows[i].p95))
            v[n++] = rows[i].p95;
    if (!n)
        return NAN;
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The recommendation per row, first rule that applies (docs/gateway.md). */
static void recommend(const struct ev_endpoint *eps, struct ev_row *rows, size_t nrows)
{
    for (size_t i = 0; i < nrows; i++) {
        struct ev_row *r = &rows[i];
        const struct ev_endpoint *e = &eps[r->ep];
        double other = others_p95(rows, nrows, i);
        r->good = false;
        if (!e->live)
            snprintf(r->rec, sizeof r->rec, "remove: not live (%s)", e->error);
        else if (!e->ready)
            snprintf(r->rec, sizeof r->rec, "investigate: live but not ready");
        else if (r->tries == 0)
            snprintf(r->rec, sizeof r->rec, "investigate: %s", r->error);
        else if (!strncmp(r->quality, "bad", 3))
            snprintf(r->rec, sizeof r->rec, "remove: its answers differ from the %s",
                     r->unstable ? "its own earlier ones" : "other endpoints'");
        else if (r->ok == 0)
            snprintf(r->rec, sizeof r->rec, "remove: every try failed (%s)", r->error);
        else if (r->ok < r->tries)
            snprintf(r->rec, sizeof r->rec, "investigate: %d of %d tries failed (%s)", r->tries - r->ok,
                     r->tries, r->error);
        else if (!strncmp(r->quality, "unsure", 6))
            snprintf(r->rec, sizeof r->rec, "investigate: the endpoints disagree and none has a majority");
        else if (!isnan(other) && r->p95 >= EVAL_SLOW_FACTOR * other && r->p95 - other >= EVAL_SLOW_MIN_MS)
            snprintf(r->rec, sizeof r->rec, "investigate: p95 %.1fx the other endpoints' (%.0f ms vs %.0f ms)",
                     r->p95 / other, r->p95, other);
        else {
            snprintf(r->rec, sizeof r->rec, "keep");
            r->good = true;
        }
    }
}

static void fmt_ms(double v, char *out, size_t cap)
{
    if (isnan(v))
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.1f", v);
}

static void fmt_avail(const struct ev_row *r, char *out, size_t cap)
{
    if (r->tries == 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.0f%% (%d/%d)", 100.0 * r->ok / r->tries, r->ok, r->tries);
}

static void print_table(const struct ev_endpoint *eps, const struct ev_row *rows, size_t nrows)
{
    int we = 8, wm = 5, wq = 7;
    char avail[48], p50[32], p95[32];
    for (size_t i = 0; i < nrows; i++) {
        int a = (int)strlen(eps[rows[i].ep].url), b = (int)strlen(rows[i].model), q = (int)strlen(rows[i].quality);
        we = a > we ? (a < 48 ? a : 48) : we;
        wm = b > wm ? (b < 32 ? b : 32) : wm;
        wq = q > wq ? (q < 60 ? q : 60) : wq;
    }
    printf("%-*s  %-*s  %-4s  %-5s  %-16s  %8s  %8s  %6s  %-*s  %s\n", we, "ENDPOINT", wm, "MODEL", "LIVE",
           "READY", "AVAILABILITY", "P50 MS", "P95 MS", "ERRORS", wq, "QUALITY", "RECOMMENDATION");
    for (size_t i = 0; i < nrows; i++) {
        const struct ev_row *r = &rows[i];
        const struct ev_endpoint *e = &eps[r->ep];
        fmt_avail(r, avail, sizeof avail);
        fmt_ms(r->p50, p50, sizeof p50);
        fmt_ms(r->p95, p95, sizeof p95);
        printf("%-*s  %-*s  %-4s  %-5s  %-16s  %8s  %8s  %6d  %-*s  %s\n", we, e->url, wm, r->model,
               e->live ? "yes" : "no", e->ready ? "yes" : "no", avail, p50, p95, r->tries - r->ok, wq,
               r->quality, r->rec);
    }
}

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static int print_json(const struct ev_endpoint *eps, size_t neps, const struct ev_row *rows,
                      size_t nrows, bool all_good)
{
    json_t *out = json_object(), *jeps = json_array(), *jrows = json_array();
    int rc = -1;
    if (!out || !jeps || !jrows)
        goto done;
    for (size_t i = 0; i < neps; i++) {
        const struct ev_endpoint *e = &eps[i];
        json_array_append_new(jeps, json_pack("{s:s,s:b,s:b,s:b,s:O,s:O,s:s?}", "url", e->url, "live", e->live,
                                              "ready", e->ready, "openai_only", e->openai_only, "models",
                                              e->v2_models, "chat_models", e->chat_models, "error",
                                              e->error[0] ? e->error : NULL));
    }
    for (size_t i = 0; i < nrows; i++) {
        const struct ev_row *r = &rows[i];
        const struct ev_endpoint *e = &eps[r->ep];
        json_array_append_new(
            jrows, json_pack("{s:s,s:s,s:s,s:b,s:b,s:i,s:i,s:i,s:o,s:o,s:o,s:s,s:s,s:s?,s:b}", "endpoint", e->url,
                             "model", r->model, "kind", r->kind, "live", e->live, "ready", e->ready, "tries",
                             r->tries, "ok", r->ok, "errors", r->tries - r->ok, "availability",
                             r->tries ? json_real((double)r->ok / r->tries) : json_null(), "p50_ms",
                             num_or_null(r->p50), "p95_ms", num_or_null(r->p95), "quality", r->quality,
                             "recommendation", r->rec, "error", r->error[0] ? r->error : NULL, "good", r->good));
    }
    json_object_set_new(out, "endpoints", jeps);
    json_object_set_new(out, "results", jrows);
    json_object_set_new(out, "all_good", json_boolean(all_good));
    jeps = jrows = NULL;
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (text) {
        printf("%s\n", text);
        free(text);
        rc = 0;
    }
done:
    json_decref(jrows);
    json_decref(jeps);
    json_decref(out);
    if (rc < 0)
        fprintf(stderr, "inferd eval: out of memory\n");
    return rc;
}

int cli_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"tries", required_argument, 0, 'n'},
        {"json", no_argument, 0, 'j'},        {"api-key-file", required_argument, 0, 'k'},
        {"timeout", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct inferd_client_opts o = inferd_client_opts_default();
    struct ev_endpoint eps[EVAL_URLS_MAX];
    struct ev_row *rows = NULL;
    json_t *models = json_array(); /* names to evaluate (strings); rows borrow them */
    char *key = NULL;
    bool as_json = false, explicit_models = false, all_good = false;
    size_t neps = 0, nrows = 0, i, j;
    int exit_code = 1, tries = 5;
    long long num;
    double timeout = 10;
    struct inferd_err err = {0};

    memset(eps, 0, sizeof eps);
    if (!models) {
        fprintf(stderr, "inferd eval: out of memory\n");
        return 1;
    }
    o.api_key = getenv("INFERD_API_KEY");
    for (int opt = cli_getopt(argc, argv, "h", opts); opt != -1; opt = cli_getopt(argc, argv, "h", opts)) {
        switch (opt) {
        case 'm':
            if (!*optarg) {
                fprintf(stderr, "inferd eval: --model: a model name cannot be empty\n");
                exit_code = 2;
                goto done;
            }
            add_name(models, optarg, EVAL_MODELS_MAX);
            explicit_models = true;
            break;
        case 'n':
            if (cli_int("eval", "--tries", optarg, 1, EVAL_TRIES_MAX, NULL, &num) < 0) {
                exit_code = 2;
                goto done;
            }
            tries = (int)num;
            break;
        case 't':
            if (cli_double("eval", "--timeout", optarg, 0.001, 86400, "a number of seconds in (0, 86400]",
                           &timeout) < 0) {
                exit_code = 2;
                goto done;
            }
            break;
        case 'k':
            free(key);
            key = read_key_file(optarg);
            if (!key) {
                exit_code = 2;
                goto done;
            }
            o.api_key = key;
            break;
        case 'j': as_json = true; break;
        case 'h': usage(stdout); exit_code = 0; goto done;
        default: exit_code = cli_bad_option("eval", argv); goto done;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        exit_code = 2;
        goto done;
    }
    if (argc - optind > EVAL_URLS_MAX) {
        fprintf(stderr, "inferd eval: at most %d URLs\n", EVAL_URLS_MAX);
        exit_code = 2;
        goto done;
    }
    /* Each try is one attempt: a retry would hide the failures availability measures. */
    o.max_retries = 0;
    o.timeout_s = timeout;
    o.connect_timeout_s = timeout < 5 ? timeout : 5;
    for (int a = optind; a < argc; a++) {
        struct ev_endpoint *e = &eps[neps];
        e->url = argv[a];
        o.base_urls = argv[a];
        if (strchr(argv[a], ',') || inferd_client_new(&o, &e->c, &err) < 0) {
            fprintf(stderr, "inferd eval: %s: %s\n", argv[a],
                    strchr(argv[a], ',') ? "one URL per argument" : err.msg);
            exit_code = 2;
            goto done;
        }
        neps++;
    }

    for (i = 0; i < neps; i++)
        probe(&eps[i], i, neps);
    if (!explicit_models)
        for (i = 0; i < neps; i++) {
            json_t *v;
            json_array_foreach(eps[i].v2_models, j, v)
            {
                add_name(models, json_string_value(v), EVAL_MODELS_MAX);
            }
            json_array_foreach(eps[i].chat_models, j, v)
            {
                add_name(models, json_string_value(v), EVAL_MODELS_MAX);
            }
        }

    /* Rows: each endpoint with each model it serves (or every --model, or every model found
     * when it is not live); "-" when there is no model to name. */
    rows = calloc(neps * (json_array_size(models) + 1), sizeof *rows);
    if (!rows) {
        fprintf(stderr, "inferd eval: out of memory\n");
        goto done;
    }
    for (i = 0; i < neps; i++) {
        struct ev_endpoint *e = &eps[i];
        size_t before = nrows;
        json_t *m;
        json_array_foreach(models, j, m)
        {
            const char *name = json_string_value(m);
            bool chat = has_name(e->chat_models, name);
            if (e->live && e->listed && !explicit_models && !chat && !has_name(e->v2_models, name))
                continue; /* another endpoint's model */
            struct ev_row *r = &rows[nrows++];
            r->ep = i;
            r->model = name;
            r->kind = !e->live ? "-" : chat ? "chat" : "v2";
            r->tries = tries;
            r->ms = calloc((size_t)tries, sizeof *r->ms);
            if (!r->ms) {
                fprintf(stderr, "inferd eval: out of memory\n");
                goto done;
            }
            eval_row(e, r, explicit_models);
        }
        if (nrows == before) {
            struct ev_row *r = &rows[nrows++];
            r->ep = i;
            r->model = "-";
            r->kind = "-";
            r->p50 = r->p95 = NAN;
            snprintf(r->error, sizeof r->error, "%s", e->live ? (e->error[0] ? e->error : "serves no model")
                                                             : e->error);
        }
        if (e->live) {
            int ok = 0, all = 0;
            for (j = before; j < nrows; j++) {
                ok += rows[j].ok;
                all += rows[j].tries;
            }
            fprintf(stderr, "eval [%zu/%zu] %s: %d of %d canary requests answered\n", i + 1, neps, e->url, ok,
                    all);
        }
    }
    json_t *m;
    json_array_foreach(models, j, m)
    {
        judge_quality(rows, nrows, json_string_value(m));
    }
    for (i = 0; i < nrows; i++)
        if (!rows[i].quality[0])
            snprintf(rows[i].quality, sizeof rows[i].quality, "-");
    recommend(eps, rows, nrows);
    size_t ngood = 0;
    for (i = 0; i < nrows; i++)
        ngood += rows[i].good;
    all_good = ngood == nrows;
    fprintf(stderr, "eval: %zu of %zu row(s) good (%zu endpoint(s), %zu model(s), %d tries each)\n", ngood,
            nrows, neps, json_array_size(models), tries);
    if (as_json ? print_json(eps, neps, rows, nrows, all_good) < 0 : (print_table(eps, rows, nrows), 0))
        goto done;
    fflush(stdout);
    exit_code = all_good ? 0 : 1;
done:
    for (i = 0; rows && i < nrows; i++) {
        free(rows[i].ms);
        json_decref(rows[i].key);
    }
    free(rows);
    for (i = 0; i < neps; i++) {
        inferd_client_free(eps[i].c);
        json_decref(eps[i].v2_models);
        json_decref(eps[i].chat_models);
    }
    json_decref(models);
    free(key);
    return exit_code;
}
