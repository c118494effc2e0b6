/* cli_serve.c — `inferd serve`: parses flags, starts the server, waits for signals
 * (SIGHUP reopens logs; SIGTERM/SIGINT drain in-flight requests, exit 0, or 1 when some were cut). */
#include "cli.h"

#include "base/log.h"
#include "pack/oci.h"
#include "pack/sign.h"
#include "serve/serve.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --models oci://...,oci://...: the refs, pulled into --oci-dir at start and on SIGHUP. */
struct oci_serve {
    struct serve_server *s;
    char *list;               /* owned copy of the --models value, cut at the commas */
    const char *refs[64];
    int n;
    const char *dir;
    struct pack_keyring *trust; /* owned; NULL without --trust */
};

static int oci_serve_sync(struct oci_serve *os)
{
    struct oci_opts oo = {.user_pass = getenv("INFERD_REGISTRY_AUTH")};
    struct inferd_err err = {0};
    int rc = oci_sync(os->refs, os->n, os->dir, os->trust, &oo, &err);
    if (rc < 0)
        log_event(LOG_ERROR, "pulling models from the registry failed; what is there keeps serving", "reason",
                  err.msg, NULL);
    else
        log_event(LOG_INFO, "models pulled from the registry", "into", os->dir, NULL);
    return rc;
}

static void on_hup(void *ctx)
{
    struct oci_serve *os = ctx;
    serve_reopen_logs(os->s);
    if (os->n) {
        oci_serve_sync(os);
        serve_rescan(os->s);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: inferd serve --models DIR [options]\n"
            "options:\n"
            "  -m, --models DIR         the model repository (required)\n"
            "  -p, --port N             TCP port, 0 = any free one (default 8080)\n"
            "  -H, --host ADDR          address to listen on (default 127.0.0.1)\n"
            "  -t, --threads N          HTTP workers and compute threads, 0 = one per CPU (default 0)\n"
            "      --api-key-file F     bearer keys for the inference routes, one a line\n"
            "      --admin-key-file F   bearer keys for the repository routes, one a line\n"
            "      --access-log F       JSON access log (reopened on SIGHUP)\n"
            "      --log-max-bytes N    rotate both logs at N bytes: F -> F.1 -> ... (0 = never)\n"
            "      --log-keep N         rotated files kept (default 5)\n"
            "      --error-log F        JSON error log (default stderr; reopened on SIGHUP)\n"
            "      --otlp-endpoint URL  export a span per request (OTLP/HTTP JSON, e.g.\n"
            "                           http://127.0.0.1:4318/v1/traces)\n"
            "      --alerts F           alert rules (JSON, docs/observe.md); GET /api/alerts,\n"
            "                           notices to Alertmanager and webhooks\n"
            "      --max-body-bytes N   largest request body (default 64 MiB)\n"
            "      --max-elements N     largest tensor, in elements (default 16M)\n"
            "      --poll-ms N          how often the repository is rescanned, 0 = never (default 1000)\n"
            "      --drain-ms N         on SIGTERM, how long in-flight requests may take (default 30000)\n"
            "      --conn-timeout S     close a connection idle for S seconds (default 120)\n"
            "      --max-connections N  open connections at most (default 4096)\n"
            "      --max-connections-per-client N  from one IP address (default 1024)\n"
            "      --max-buffered-bytes N  request bodies being received, over all connections\n"
            "                           (default 8 x --max-body-bytes; past it: 503)\n"
            "      --register etcd://HOST:PORT/PREFIX  register this server in etcd under\n"
            "                           PREFIX/<id> with a lease (revoked on SIGTERM), for gateways\n"
            "      --advertise URL      the URL registered (default http://<host>:<port>)\n"
            "      --register-ttl S     the lease's TTL in seconds (default 10)\n"
            "      --peer URL           another server, listed by GET /api/peers (repeatable)\n"
            "      --max-upload-bytes N largest package PUT to /v2/repository/models/M/versions/V\n"
            "                           (a tar stream written to disk as it arrives; default 32 GiB)\n"
            "      --oci-dir DIR        with --models oci://HOST:PORT/NAME:TAG[,oci://...]: the models\n"
            "                           are pulled into DIR (default oci-models) at start and on SIGHUP\n"
            "      --trust KEYS         serve only versions signed by a key in KEYS (inferd keygen;\n"
            "                           a version unsigned or changed after signing never loads)\n"
            "      --prefix-cache-mb N  each LLM's prefix cache of KV blocks, unless its config.json\n"
            "                           sets prefix_cache_mb (default 256; 0 = off)\n"
            "      --memory-budget-mb N each LLM is refused at load when its weights, KV cache, scratch and\n"
            "                           prefix cache would exceed N MiB, unless its config.json sets\n"
            "                           memory_budget_mb (default: no budget)\n"
            "  -h, --help               this text\n"
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
            "Also: /v2/health/{live,ready}, /v2/repository/... (admin key), /metrics, /api/peers.\n"
            "SIGHUP reopens the log files; SIGTERM turns new requests away (503) and finishes in-flight ones\n"
            "(streams included) within --drain-ms.\n");
}

int cli_serve(int argc, char **argv)
{
    struct serve_options o = serve_options_default();
    struct oci_serve os = {.dir = "oci-models"};
    long long drain_ms = 30000, v;
    /* --peer values point into argv; at most one per argument. */
    const char **peers = calloc((size_t)argc + 1, sizeof *peers);
    int rc = 2;
    if (!peers) {
        fprintf(stderr, "inferd serve: out of memory\n");
        return 1;
    }
    o.peers = peers;
    static const struct option opts[] = {
        {"models", required_argument, 0, 'm'},        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},          {"threads", required_argument, 0, 't'},
        {"api-key-file", required_argument, 0, 'k'},  {"admin-key-file", required_argument, 0, 'K'},
        {"access-log", required_argument, 0, 'a'},    {"error-log", required_argument, 0, 'e'},
        {"max-body-bytes", required_argument, 0, 'b'}, {"max-elements", required_argument, 0, 'n'},
        {"poll-ms", required_argument, 0, 'P'},       {"drain-ms", required_argument, 0, 'd'},
        {"conn-timeout", required_argument, 0, 'T'},  {"max-connections", required_argument, 0, 'C'},
        {"max-connections-per-client", required_argument, 0, 'I'},
        {"max-buffered-bytes", required_argument, 0, 'B'},
        {"register", required_argument, 0, 'R'},      {"advertise", required_argument, 0, 'A'},
        {"register-ttl", required_argument, 0, 'L'},  {"peer", required_argument, 0, 'Q'},
        {"otlp-endpoint", required_argument, 0, 'X'}, {"alerts", required_argument, 0, 'W'},
        {"log-max-bytes", required_argument, 0, 1001}, {"log-keep", required_argument, 0, 1002},
        {"trust", required_argument, 0, 'U'},
        {"prefix-cache-mb", required_argument, 0, 1003},
        {"memory-budget-mb", required_argument, 0, 1004},
        {"max-upload-bytes", required_argument, 0, 'Y'}, {"oci-dir", required_argument, 0, 'O'},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0},
    };
    int c;
    for (;;) {
        c = cli_getopt(argc, argv, "m:p:H:t:h", opts);
        if (c == -1)
            break;
        switch (c) {
        case 'm': o.models_dir = optarg; break;
        case 'H': o.host = optarg; break;
        case 'k': o.api_key_file = optarg; break;
        case 'K': o.admin_key_file = optarg; break;
        case 'a': o.access_log = optarg; break;
        case 1001:
            if (cli_int("serve", "--log-max-bytes", optarg, 0, 1LL << 50, NULL, &v) < 0)
                goto done;
            o.log_max_bytes = (size_t)v;
            break;
        case 1002:
            if (cli_int("serve", "--log-keep", optarg, 1, 1000, NULL, &v) < 0)
                goto done;
            o.log_keep = (int)v;
            break;
        case 1003:
            if (cli_int("serve", "--prefix-cache-mb", optarg, 0, 1 << 20, NULL, &v) < 0)
                goto done;
            o.prefix_cache_mb = v > 0 ? (int)v : -1;
            break;
        case 1004:
            if (cli_int("serve", "--memory-budget-mb", optarg, 1, 1 << 30, "a size in MiB", &v) < 0)
                goto done;
            o.memory_budget_mb = (int)v;
            break;
        case 'X': o.otlp_endpoint = optarg; break;
        case 'W': o.alerts_file = optarg; break;
        case 'U': o.trust_file = optarg; break;
        case 'O': os.dir = optarg; break;
        case 'Y':
            if (cli_int("serve", "--max-upload-bytes", optarg, 1, 1LL << 50, NULL, &v) < 0)
                goto done;
            o.max_upload_bytes = v;
            break;
        case 'e': o.error_log = optarg; break;
        case 'p':
            if (cli_int("serve", "--port", optarg, 0, 65535, "a port number", &v) < 0)
                goto done;
            o.port = (int)v;
            break;
        case 't':
            if (cli_int("serve", "--threads", optarg, 0, 1024, NULL, &v) < 0)
                goto done;
            o.threads = (int)v;
            break;
        case 'b':
            if (cli_int("serve", "--max-body-bytes", optarg, 1, 1LL << 40, NULL, &v) < 0)
                goto done;
            o.max_body_bytes = (size_t)v;
            break;
        case 'n':
            if (cli_int("serve", "--max-elements", optarg, 1, 1LL << 40, NULL, &v) < 0)
                goto done;
            o.max_elements = v;
            break;
        case 'P':
            if (cli_int("serve", "--poll-ms", optarg, 0, 86400000, NULL, &v) < 0)
                goto done;
            o.poll_ms = (int)v;
            break;
        case 'd':
            if (cli_int("serve", "--drain-ms", optarg, 0, 86400000, NULL, &v) < 0)
                goto done;
            drain_ms = v;
            break;
        case 'T':
            if (cli_int("serve", "--conn-timeout", optarg, 1, 86400, NULL, &v) < 0)
                goto done;
            o.conn_timeout_s = (int)v;
            break;
        case 'C':
            if (cli_int("serve", "--max-connections", optarg, 1, 1000000, NULL, &v) < 0)
                goto done;
            o.max_connections = (int)v;
            break;
        case 'I':
            if (cli_int("serve", "--max-connections-per-client", optarg, 1, 1000000, NULL, &v) < 0)
                goto done;
            o.max_conns_per_client = (unsigned)v;
            break;
        case 'B':
            if (cli_int("serve", "--max-buffered-bytes", optarg, 1, 1LL << 42, NULL, &v) < 0)
                goto done;
            o.max_buffered_bytes = (size_t)v;
            break;
        case 'R': o.register_url = optarg; break;
        case 'A':
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr, "inferd serve: --advertise: '%s' is not an http:// or https:// URL\n", optarg);
                goto done;
            }
            o.advertise_url = optarg;
            break;
        case 'L':
            if (cli_int("serve", "--register-ttl", optarg, 1, 86400, NULL, &v) < 0)
                goto done;
            o.register_ttl_s = (int)v;
            break;
        case 'Q':
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr, "inferd serve: --peer: '%s' is not an http:// or https:// URL\n", optarg);
                goto done;
            }
            peers[o.n_peers++] = optarg;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto done;
        default:
            cli_bad_option("serve", argv);
            goto done;
        }
    }
    if (!o.models_dir || optind != argc) {
        usage(stderr);
        goto done;
    }
    if (!o.register_url && (o.advertise_url || o.register_ttl_s)) {
        fprintf(stderr, "inferd serve: --advertise and --register-ttl need --register etcd://HOST:PORT/PREFIX\n");
        goto done;
    }
    /* Signals are blocked here, before serve_start, so every server thread inherits the
     * mask, and taken synchronously by this thread (cli_signals.c says why). */
    sigset_t sigs;
    cli_signals_block(&sigs);
    struct serve_server *s;
    struct inferd_err err = {0};
    if (strncmp(o.models_dir, "oci://", 6) == 0 || strncmp(o.models_dir, "ocis://", 7) == 0) {
        if (!(os.list = strdup(o.models_dir))) {
            rc = 1;
            goto done;
        }
        for (char *save = NULL, *t = strtok_r(os.list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            struct oci_ref ref;
            if (os.n == 64 || oci_parse_ref(t, &ref, &err) < 0) {
                fprintf(stderr, "inferd serve: --models: %s\n", os.n == 64 ? "more than 64 references" : err.msg);
                goto done;
            }
            os.refs[os.n++] = t;
        }
        if (o.trust_file) {
            os.trust = malloc(sizeof *os.trust);
            if (!os.trust || pack_keyring_load(o.trust_file, os.trust, &err) < 0) {
                fprintf(stderr, "inferd serve: --trust: %s\n", os.trust ? err.msg : "out of memory");
                rc = 1;
                goto done;
            }
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (oci_serve_sync(&os) < 0) {
            fprintf(stderr, "inferd serve: --models: pulling failed (see the log above)\n");
            rc = 1;
            goto done;
        }
        o.models_dir = os.dir;
    }
    if (serve_start(&o, &s, &err) < 0) {
        fprintf(stderr, "inferd serve: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    fprintf(stderr, "inferd serve: listening on http://%s:%d (models from %s)\n", o.host, serve_port(s), o.models_dir);
    os.s = s;
    cli_signals_wait(&sigs, on_hup, &os);
    long left = serve_drain(s, (int)drain_ms);
    serve_free(s);
    fprintf(stderr, "inferd serve: stopped (%ld requests cut)\n", left);
    rc = left ? 1 : 0;
done:
    if (os.list)
        curl_global_cleanup();
    free(os.list);
    free(os.trust);
    free(peers);
    return rc;
}
