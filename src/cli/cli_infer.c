/* cli_infer.c — `inferd infer`: send one request file to a served model through the client
 * library (retry, backoff, fail-over) and print the answer. */
#include "cli.h"

#include "base/buf.h"

#include "inferd/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INFER_INPUT_MAX (256u << 20) /* bytes of request file */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inferd infer URL[,URL2...] MODEL FILE|- [options]\n"
            "  FILE holds a v2 infer request {\"inputs\":[...]} or, for /predict, a nested\n"
            "  array or {\"input_data\":...}; '-' reads stdin. The answer goes to stdout;\n"
            "  retries and a summary go to stderr.\n"
            "options:\n"
            "  --retries N          retries after the first attempt (default 3)\n"
            "  --timeout SECONDS    deadline for all attempts together (default 60)\n"
            "  --attempt-timeout S  cap on one attempt, so a hung server is failed over\n"
            "  --api-key KEY        bearer token (default: $INFERD_API_KEY)\n"
            "  --protocol v2|predict  (default: v2 when FILE has \"inputs\", else predict)\n"
            "  --model-version V    v2 only: a specific model version\n"
            "  --backoff-base S     first backoff ceiling in seconds (default 0.1)\n"
            "  --backoff-cap S      largest backoff in seconds (default 10)\n"
            "  -h, --help           this text\n");
}

/* Reads all of path ("-" = stdin) up to INFER_INPUT_MAX bytes. OUT: malloc'd, NUL-ended. */
static char *read_all(const char *path, size_t *len)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct buf b;
    char chunk[65536];
    char *text = NULL;
    if (!fp) {
        fprintf(stderr, "inferd infer: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf_init(&b, INFER_INPUT_MAX);
    size_t got;
    do {
        got = fread(chunk, 1, sizeof chunk, fp);
        buf_put(&b, chunk, got);
    } while (got > 0 && !buf_rc(&b));
    if (buf_rc(&b) == INFERD_ETOOLARGE)
        fprintf(stderr, "inferd infer: %s is larger than %u bytes\n", path, INFER_INPUT_MAX);
    else if (buf_rc(&b))
        fprintf(stderr, "inferd infer: reading %s: out of memory\n", path);
    else if (ferror(fp))
        fprintf(stderr, "inferd infer: reading %s failed\n", path);
    else
        text = buf_take(&b, len);
    if (fp != stdin)
        fclose(fp);
    buf_free(&b);
    return text;
}

static void print_retry(const struct inferd_retry_info *i, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "retry %d/%d after %.2fs: %s from %s", i->retry, i->max_retries, i->delay_s,
            i->reason, i->url);
    if (i->retry_after_s >= 0)
        fprintf(stderr, " (Retry-After %.0fs)", i->retry_after_s);
    if (strcmp(i->url, i->next_url) != 0)
        fprintf(stderr, "; next %s", i->next_url);
    fprintf(stderr, "\n");
}

int cli_infer(int argc, char **argv)
{
    struct inferd_client_opts o = inferd_client_opts_default();
    static const struct option opts[] = {
        {"retries", required_argument, 0, 'r'},      {"timeout", required_argument, 0, 't'},
        {"attempt-timeout", required_argument, 0, 'a'}, {"backoff-base", required_argument, 0, 'b'},
        {"backoff-cap", required_argument, 0, 'c'},  {"api-key", required_argument, 0, 'k'},
        {"protocol", required_argument, 0, 'p'},     {"model-version", required_argument, 0, 'V'},
        {"help", no_argument, 0, 'h'},               {0, 0, 0, 0},
    };
    const char *pos[3];
    const char *protocol = NULL, *version = NULL;
    struct inferd_client *c = NULL;
    struct inferd_response r = {0};
    struct inferd_err err = {0};
    json_t *req = NULL, *input = NULL;
    char *text = NULL;
    int exit_code = 1, rc;
    size_t len;

    o.api_key = getenv("INFERD_API_KEY");
    o.on_retry = print_retry;
    int opt;
    long long num;
    double d;
    for (;;) {
        opt = cli_getopt(argc, argv, "h", opts);
        if (opt == -1)
            break;
        switch (opt) {
        case 'r':
            if (cli_int("infer", "--retries", optarg, 0, 100, NULL, &num) < 0)
                return 2;
            o.max_retries = (int)num;
            break;
        case 't':
        case 'a':
        case 'b':
        case 'c':
            if (cli_double("infer", opt == 't' ? "--timeout" : opt == 'a' ? "--attempt-timeout"
                                    : opt == 'b' ? "--backoff-base" : "--backoff-cap",
                           optarg, 0, 1e300, "a number of seconds", &d) < 0)
                return 2;
            if (opt == 't')
                o.timeout_s = d;
            else if (opt == 'a')
                o.attempt_timeout_s = d;
            else if (opt == 'b')
                o.backoff_base_s = d;
            else
                o.backoff_cap_s = d;
            break;
        case 'k': o.api_key = optarg; break;
        case 'p':
            if (strcmp(optarg, "v2") != 0 && strcmp(optarg, "predict") != 0) {
                fprintf(stderr, "inferd infer: --protocol: '%s' is not v2 or predict\n", optarg);
                return 2;
            }
            protocol = optarg;
            break;
        case 'V': version = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return cli_bad_option("infer", argv);
        }
    }
    if (argc - optind > 3) {
        fprintf(stderr, "inferd infer: too many arguments\n");
        usage(stderr);
        return 2;
    }
    if (argc - optind != 3) {
        usage(stderr);
        return 2;
    }
    for (int i = 0; i < 3; i++)
        pos[i] = argv[optind + i];
    o.base_urls = pos[0];
    text = read_all(pos[2], &len);
    if (!text)
        goto done;
    json_error_t je;
    req = json_loadb(text, len, 0, &je);
    if (!req) {
        fprintf(stderr, "inferd infer: %s is not JSON: line %d: %s\n", pos[2], je.line, je.text);
        goto done;
    }
    if (!protocol)
        protocol = json_is_object(req) && json_object_get(req, "inputs") ? "v2" : "predict";
    if (strcmp(protocol, "v2") == 0 && !json_is_object(req)) {
        fprintf(stderr, "inferd infer: a v2 request is a JSON object {\"inputs\":[...]}\n");
        goto done;
    }
    if (inferd_client_new(&o, &c, &err) < 0) {
        fprintf(stderr, "inferd infer: %s\n", err.msg);
        exit_code = 2;
        goto done;
    }
    if (strcmp(protocol, "v2") == 0) {
        rc = inferd_client_infer_v2(c, pos[1], version, req, &r, &err);
    } else {
        input = json_is_object(req) && json_object_get(req, "input_data")
                    ? json_incref(json_object_get(req, "input_data"))
                    : json_incref(req);
        rc = inferd_client_predict(c, pos[1], input, &r, &err);
    }
    /* The body exactly as the server sent it (re-serialising would print 17-digit floats). */
    if (r.body && r.body_len && (r.json || rc == 0)) {
        fwrite(r.body, 1, r.body_len, stdout);
        if (r.body[r.body_len - 1] != '\n')
            printf("\n");
    }
    fflush(stdout);
    if (rc == 0) {
        fprintf(stderr, "ok: HTTP %d from %s after %d attempt%s in %.2fs\n", r.status, r.url,
                r.attempts, r.attempts == 1 ? "" : "s", r.elapsed_s);
        exit_code = 0;
    } else {
        fprintf(stderr, "failed: %s (%d attempt%s in %.2fs, key %s)\n", err.msg, r.attempts,
                r.attempts == 1 ? "" : "s", r.elapsed_s, r.idempotency_key);
    }
done:
    inferd_response_clear(&r);
    inferd_client_free(c);
    json_decref(input);
    json_decref(req);
    free(text);
    return exit_code;
}
