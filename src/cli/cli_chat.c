/* cli_chat.c — `inferd chat`: a line-by-line REPL against /v1/chat/completions with
 * stream:true, printing tokens as they arrive and keeping the conversation. */
#include "cli.h"

#include "base/buf.h"

#include "inferd/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAT_LINE_MAX (1u << 20)   /* bytes of one user line */
#define CHAT_REPLY_MAX (16u << 20) /* bytes of one assistant reply kept in the history */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inferd chat URL[,URL2...] MODEL [options]\n"
            "  Reads one user message per line from stdin and streams the answers to stdout.\n"
            "  /reset starts a new conversation, /exit (or end of input) quits.\n"
            "options:\n"
            "  --system TEXT        system prompt\n"
            "  --temperature T      sampling temperature\n"
            "  --max-tokens N       cap on tokens per answer\n"
            "  --retries N          retries before the first token (default 3)\n"
            "  --timeout SECONDS    deadline per answer (default 600)\n"
            "  --api-key KEY        bearer token (default: $INFERD_API_KEY)\n"
            "  -h, --help           this text\n");
}

/* One streamed answer being assembled. */
struct reply {
    struct buf text;     /* owned; capped at CHAT_REPLY_MAX - 1 bytes (room for the NUL) */
    int done;            /* [DONE] seen */
    char error[256];     /* an error event's message */
    char finish[32];     /* finish_reason of the last choice that had one */
};

static int on_event(const char *event, const char *data, size_t len, void *ctx)
{
    struct reply *r = ctx;
    (void)event;
    if (strcmp(data, "[DONE]") == 0) {
        r->done = 1;
        return 1;
    }
    json_t *j = json_loadb(data, len, 0, NULL);
    if (!j)
        return 0; /* not JSON: ignore, as OpenAI clients do */
    json_t *e = json_object_get(j, "error");
    if (e) {
        json_t *m = json_is_object(e) ? json_object_get(e, "message") : e;
        snprintf(r->error, sizeof r->error, "%s",
                 json_is_string(m) ? json_string_value(m) : "error event");
    }
    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
    json_t *content = json_object_get(json_object_get(choice, "delta"), "content");
    if (json_is_string(content)) {
        const char *s = json_string_value(content);
        size_t n = json_string_length(content);
        fwrite(s, 1, n, stdout);
        fflush(stdout);
        buf_put(&r->text, s, n);
    }
    json_t *fin = json_object_get(choice, "finish_reason");
    if (json_is_string(fin))
        snprintf(r->finish, sizeof r->finish, "%s", json_string_value(fin));
    json_decref(j);
    return buf_rc(&r->text) ? 1 : 0; /* a reply that cannot grow stops the stream */
}

static void print_retry(const struct inferd_retry_info *i, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "retry %d/%d after %.2fs: %s from %s\n", i->retry, i->max_retries,
            i->delay_s, i->reason, i->url);
}

/* Appends {"role":role,"content":text} to messages. Returns 0, INFERD_EINVAL when text is
 * not valid UTF-8 (JSON cannot carry it), or INFERD_ENOMEM. */
static int add_message(json_t *messages, const char *role, const char *text, size_t len)
{
    json_t *content = json_stringn(text, len);
    if (!content)
        return INFERD_EINVAL;
    json_t *m = json_pack("{s:s, s:o}", "role", role, "content", content); /* steals content */
    return m && json_array_append_new(messages, m) == 0 ? 0 : INFERD_ENOMEM;
}

static json_t *new_history(const char *system)
{
    json_t *h = json_array();
    if (h && system && add_message(h, "system", system, strlen(system)) < 0) {
        json_decref(h);
        return NULL;
    }
    return h;
}

/* One turn: sends the history, streams the answer. Returns 0 or -1 (message printed). */
static int turn(struct inferd_client *c, const char *model, json_t *history,
                const json_t *params)
{
    struct reply r = {0};
    buf_init(&r.text, CHAT_REPLY_MAX - 1);
    struct inferd_response resp = {0};
    struct inferd_err err = {0};
    int ok = -1;
    json_t *body = json_deep_copy(params);
    if (!body || json_object_set_new(body, "model", json_string(model)) < 0 ||
        json_object_set(body, "messages", history) < 0 ||
        json_object_set_new(body, "stream", json_true()) < 0) {
        fprintf(stderr, "inferd chat: out of memory\n");
        goto done;
    }
    int rc = inferd_client_stream(c, "/v1/chat/completions", body, on_event, &r, &resp, &err);
    if (r.text.len || r.done)
        printf("\n");
    fflush(stdout);
    if (rc < 0) {
        fprintf(stderr, "inferd chat: %s\n", err.msg);
        goto done;
    }
    if (r.error[0]) {
        fprintf(stderr, "inferd chat: server error: %s\n", r.error);
        goto done;
    }
    if (!r.done)
        fprintf(stderr, "inferd chat: warning: stream ended without [DONE]\n");
    if (buf_rc(&r.text) == INFERD_ETOOLARGE)
        fprintf(stderr, "inferd chat: answer over %u bytes, cut\n", CHAT_REPLY_MAX);
    else if (buf_rc(&r.text))
        fprintf(stderr, "inferd chat: out of memory, answer cut\n");
    if (add_message(history, "assistant", r.text.data ? r.text.data : "", r.text.len) < 0) {
        fprintf(stderr, "inferd chat: out of memory\n");
        goto done;
    }
    ok = 0;
done:
    inferd_response_clear(&resp);
    json_decref(body);
    buf_free(&r.text);
    return ok;
}

int cli_chat(int argc, char **argv)
{
    struct inferd_client_opts o = inferd_client_opts_default();
    static const struct option opts[] = {
        {"system", required_argument, 0, 's'},  {"temperature", required_argument, 0, 'T'},
        {"max-tokens", required_argument, 0, 'n'}, {"retries", required_argument, 0, 'r'},
        {"timeout", required_argument, 0, 't'}, {"api-key", required_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    const char *pos[2];
    int exit_code = 1, last_failed = 0;
    const char *system = NULL;
    struct inferd_client *c = NULL;
    struct inferd_err err = {0};
    json_t *params = json_object(), *history = NULL;
    char *line = NULL;
    size_t line_cap = 0;

    o.api_key = getenv("INFERD_API_KEY");
    o.on_retry = print_retry;
    o.timeout_s = 600;
    if (!params) {
        fprintf(stderr, "inferd chat: out of memory\n");
        goto done;
    }
    int opt;
    long long num;
    double d;
    for (;;) {
        opt = cli_getopt(argc, argv, "h", opts);
        if (opt == -1)
            break;
        switch (opt) {
        case 's': system = optarg; break;
        case 'k': o.api_key = optarg; break;
        case 'T':
            if (cli_double("chat", "--temperature", optarg, 0, 1e300, "a temperature (a number >= 0)", &d) < 0)
                goto usage_error;
            json_object_set_new(params, "temperature", json_real(d));
            break;
        case 'n':
            if (cli_int("chat", "--max-tokens", optarg, 1, 1LL << 62, "a token count (>= 1)", &num) < 0)
                goto usage_error;
            json_object_set_new(params, "max_tokens", json_integer(num));
            break;
        case 'r':
            if (cli_int("chat", "--retries", optarg, 0, 100, NULL, &num) < 0)
                goto usage_error;
            o.max_retries = (int)num;
            break;
        case 't':
            if (cli_double("chat", "--timeout", optarg, 0, 1e300, "a number of seconds", &d) < 0)
                goto usage_error;
            o.timeout_s = d;
            break;
        case 'h':
            usage(stdout);
            exit_code = 0;
            goto done;
        default:
            exit_code = cli_bad_option("chat", argv);
            goto done;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        goto usage_error;
    }
    pos[0] = argv[optind];
    pos[1] = argv[optind + 1];
    o.base_urls = pos[0];
    if (inferd_client_new(&o, &c, &err) < 0) {
        fprintf(stderr, "inferd chat: %s\n", err.msg);
        exit_code = 2;
        goto done;
    }
    history = new_history(system);
    if (!history) {
        fprintf(stderr, "inferd chat: --system is not valid UTF-8 (or out of memory)\n");
        exit_code = 2;
        goto done;
    }
    int tty = isatty(STDIN_FILENO);
    for (;;) {
        if (tty) {
            fprintf(stderr, "> ");
            fflush(stderr);
        }
        ssize_t n = getline(&line, &line_cap, stdin);
        if (n < 0)
            break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if ((size_t)n > CHAT_LINE_MAX) {
            fprintf(stderr, "inferd chat: line over %u bytes ignored\n", CHAT_LINE_MAX);
            continue;
        }
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0)
            break;
        if (strcmp(line, "/reset") == 0) {
            json_decref(history);
            history = new_history(system);
            if (!history)
                goto done;
            fprintf(stderr, "(conversation reset)\n");
            continue;
        }
        int mrc = add_message(history, "user", line, (size_t)n);
        if (mrc == INFERD_EINVAL) {
            fprintf(stderr, "inferd chat: line is not valid UTF-8, ignored\n");
            continue;
        }
        if (mrc < 0) {
            fprintf(stderr, "inferd chat: out of memory\n");
            goto done;
        }
        last_failed = turn(c, pos[1], history, params) < 0;
        if (last_failed) /* forget the unanswered message so the user can try again */
            json_array_remove(history, json_array_size(history) - 1);
    }
    exit_code = last_failed ? 1 : 0;
    goto done;
usage_error:
    exit_code = 2;
done:
    free(line);
    json_decref(history);
    json_decref(params);
    inferd_client_free(c);
    return exit_code;
}
