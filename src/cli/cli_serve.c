/* cli_serve.c — `inferd serve`: parses flags, starts the server, waits for signals
 * (SIGHUP reopens logs; SIGTERM/SIGINT drain in-flight requests and exit 0). */
#include "cli.h"

#include "serve/serve.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The thread that waits for signals in sigwaitinfo (main). Written once before the
 * handler is installed, read only by the handler. */
static pthread_t sig_waiter;

/* Runs only on threads started before main could block the signals (OpenBLAS starts its
 * workers in a constructor): hands the signal to the waiting thread, where it is blocked
 * and so stays pending until sigwaitinfo takes it. pthread_kill is async-signal-safe. */
static void on_signal(int sig)
{
    int saved = errno;
    pthread_kill(sig_waiter, sig);
    errno = saved;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: inferd serve --models DIR [--port N] [--host 127.0.0.1] [--threads N]\n"
            "                    [--api-key-file F] [--admin-key-file F] [--access-log F] [--error-log F]\n"
            "                    [--max-body-bytes N] [--max-elements N] [--poll-ms N] [--drain-ms N]\n"
            "                    [--conn-timeout SECONDS] [--max-connections N]\n"
            "\n"
            "Serves every model under DIR on one port. Each DIR/<name>/<version>/ holds a model\n"
            "file, with optional DIR/<name>/config.json and <version>/manifest.json:\n"
            "  model.onnx  ONNX models: KServe v2 (/v2/models/<name>/infer), /predict and\n"
            "              TF-Serving REST (/v1/models/<name>:predict)\n"
            "  model.gguf  GGUF language models: the OpenAI-compatible API\n"
            "              (/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models)\n"
            "              and /tokenize, /detokenize; config.json sets context_size, parallel,\n"
            "              chat_template, max_queue_size and sampling defaults\n"
            "              (see docs/llm_serve.md)\n"
            "Also: /v2/health/{live,ready}, /v2/repository/... (admin key), /metrics.\n"
            "SIGHUP reopens the log files; SIGTERM stops accepting and finishes in-flight requests\n"
            "(streams included) within --drain-ms.\n");
}

static int parse_num(const char *flag, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "inferd serve: %s: '%s' is not an integer in %lld..%lld\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_serve(int argc, char **argv)
{
    struct serve_options o = serve_options_default();
    long long drain_ms = 30000, v;
    static const struct option opts[] = {
        {"models", required_argument, 0, 'm'},        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},          {"threads", required_argument, 0, 't'},
        {"api-key-file", required_argument, 0, 'k'},  {"admin-key-file", required_argument, 0, 'K'},
        {"access-log", required_argument, 0, 'a'},    {"error-log", required_argument, 0, 'e'},
        {"max-body-bytes", required_argument, 0, 'b'}, {"max-elements", required_argument, 0, 'n'},
        {"poll-ms", required_argument, 0, 'P'},       {"drain-ms", required_argument, 0, 'd'},
        {"conn-timeout", required_argument, 0, 'T'},  {"max-connections", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:H:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.models_dir = optarg; break;
        case 'H': o.host = optarg; break;
        case 'k': o.api_key_file = optarg; break;
        case 'K': o.admin_key_file = optarg; break;
        case 'a': o.access_log = optarg; break;
        case 'e': o.error_log = optarg; break;
        case 'p': if (parse_num("--port", optarg, 0, 65535, &v) < 0) return 2; o.port = (int)v; break;
        case 't': if (parse_num("--threads", optarg, 0, 1024, &v) < 0) return 2; o.threads = (int)v; break;
        case 'b': if (parse_num("--max-body-bytes", optarg, 1, 1LL << 40, &v) < 0) return 2; o.max_body_bytes = (size_t)v; break;
        case 'n': if (parse_num("--max-elements", optarg, 1, 1LL << 40, &v) < 0) return 2; o.max_elements = v; break;
        case 'P': if (parse_num("--poll-ms", optarg, 0, 86400000, &v) < 0) return 2; o.poll_ms = (int)v; break;
        case 'd': if (parse_num("--drain-ms", optarg, 0, 86400000, &v) < 0) return 2; drain_ms = v; break;
        case 'T': if (parse_num("--conn-timeout", optarg, 1, 86400, &v) < 0) return 2; o.conn_timeout_s = (int)v; break;
        case 'C': if (parse_num("--max-connections", optarg, 1, 1000000, &v) < 0) return 2; o.max_connections = (int)v; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!o.models_dir || optind != argc) {
        usage(stderr);
        return 2;
    }
    /* Signals are taken synchronously by this thread with sigwaitinfo: blocked here before
     * serve_start, so every thread the server starts inherits the mask. No handler runs
     * server code, and nothing depends on when a signal handler is delivered (TSan defers
     * handlers to the thread's next intercepted call, which a handler-writes-a-pipe
     * design deadlocks on while this thread sits in read). Threads that libraries started
     * before main still have the signals unblocked; on_signal forwards from them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sig_waiter = pthread_self();
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct serve_server *s;
    struct inferd_err err = {0};
    if (serve_start(&o, &s, &err) < 0) {
        fprintf(stderr, "inferd serve: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "inferd serve: listening on http://%s:%d (models from %s)\n", o.host, serve_port(s), o.models_dir);
    for (;;) {
        int sig = sigwaitinfo(&sigs, NULL);
        if (sig < 0 && errno == EINTR)
            continue;
        if (sig == SIGHUP) {
            serve_reopen_logs(s);
            continue;
        }
        break;
    }
    long left = serve_drain(s, (int)drain_ms);
    serve_free(s);
    fprintf(stderr, "inferd serve: stopped (%ld requests cut)\n", left);
    return left ? 1 : 0;
}
