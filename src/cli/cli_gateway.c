/* cli_gateway.c — `inferd gateway`: parses flags, starts the gateway (src/gateway), waits
 * for signals (SIGHUP reopens logs; SIGTERM/SIGINT drain, exit 0, or 1 when some were cut). */
#include "cli.h"

#include "base/log.h"
#include "gateway/gateway.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: inferd gateway [--channels FILE] [options]\n"
            "options:\n"
            "  -c, --channels FILE       channels [{id, base_url, protocol, models, ...}], re-read on change\n"
            "  -s, --state FILE          SQLite state: channels, keys, history (default gateway.db)\n"
            "  -p, --port N              TCP port, 0 = any free one (default 9090)\n"
            "  -H, --host ADDR           address to listen on (default 127.0.0.1)\n"
            "  -t, --threads N           HTTP worker threads (default 4)\n"
            "      --admin-key-file F    keys for /api/channels, /api/keys, /api/report\n"
            "      --api-key-file F      inference keys (besides those added with POST /api/keys)\n"
            "      --access-log F        JSON access log: one line per request, every attempt\n"
            "      --log-max-bytes N     rotate both logs at N bytes: F -> F.1 -> ... (0 = never)\n"
            "      --log-keep N          rotated files kept (default 5)\n"
            "      --error-log F         JSON error log (default stderr)\n"
            "      --otlp-endpoint URL   export a span per request and per attempt (OTLP/HTTP\n"
            "                            JSON, e.g. http://127.0.0.1:4318/v1/traces)\n"
            "      --alerts F            alert rules (JSON, docs/observe.md); GET /api/alerts,\n"
            "                            notices to Alertmanager and webhooks\n"
            "      --canaries F          [{model, request, expect}]: canary requests and answers\n"
            "      --dns NAME            discover channels from DNS (SRV if NAME starts with _,\n"
            "                            else A/AAAA), repeatable\n"
            "      --dns-server H:P      resolver for --dns (default: the system's)\n"
            "      --dns-port N          port of channels found by A/AAAA (default 8080)\n"
            "      --etcd URL            etcd://HOST:PORT/prefix: servers registered there\n"
            "      --probe-interval MS   health probe period (default 2000)\n"
            "      --canary-interval MS  canary inference period (default 10000)\n"
            "      --crawl-interval MS   peer crawling period (default 10000)\n"
            "      --max-attempts N      attempts per request, retries included (default 3)\n"
            "      --retry-budget R      retries at most R x requests (default 0.2)\n"
            "      --connect-timeout MS  (default 1000)\n"
            "      --first-byte-timeout MS  cap on waiting for an answer's first byte (default 30000)\n"
            "      --upstream-timeout MS whole attempt of a non-streaming request (default 60000)\n"
            "      --eject-failures N    consecutive failures that eject a channel (default 5)\n"
            "      --eject-ratio R       window error ratio that ejects (default 0.5)\n"
            "      --max-ejected R       share of channels that may be ejected at once (default 0.5)\n"
            "      --hedge M1,M2         models whose requests are hedged after the fleet's p95\n"
            "      --retention S         seconds of history kept (default 604800)\n"
            "      --max-body-bytes N    largest request body (default 64 MiB)\n"
            "      --drain-ms N          on SIGTERM, how long requests may take (default 30000)\n"
            "      --max-connections N   open client connections at most (default 8192)\n"
            "      --max-connections-per-client N  from one IP address (default 1024)\n"
            "  -h, --help                this text\n"
            "\n"
            "Answers the server's protocols (KServe v2, /predict, TF-Serving, OpenAI with streaming)\n"
            "and routes each request by model name to a healthy channel; see docs/gateway.md.\n");
}

static void reopen(void *ctx)
{
    gw_reopen_logs(ctx);
}

int cli_gateway(int argc, char **argv)
{
    struct gw_options o = gw_options_default();
    const char *error_log = NULL;
    long long drain_ms = 30000, v;
    double d;
    static const struct option opts[] = {
        {"channels", required_argument, 0, 'c'},       {"state", required_argument, 0, 's'},
        {"port", required_argument, 0, 'p'},           {"host", required_argument, 0, 'H'},
        {"threads", required_argument, 0, 't'},        {"admin-key-file", required_argument, 0, 'K'},
        {"api-key-file", required_argument, 0, 'k'},   {"access-log", required_argument, 0, 'a'},
        {"error-log", required_argument, 0, 'e'},      {"canaries", required_argument, 0, 'y'},
        {"dns", required_argument, 0, 'D'},            {"dns-server", required_argument, 0, 'S'},
        {"dns-port", required_argument, 0, 'O'},       {"etcd", required_argument, 0, 'E'},
        {"probe-interval", required_argument, 0, 1},   {"canary-interval", required_argument, 0, 2},
        {"crawl-interval", required_argument, 0, 3},   {"max-attempts", required_argument, 0, 4},
        {"retry-budget", required_argument, 0, 5},     {"connect-timeout", required_argument, 0, 6},
        {"first-byte-timeout", required_argument, 0, 7}, {"upstream-timeout", required_argument, 0, 8},
        {"eject-failures", required_argument, 0, 9},   {"eject-ratio", required_argument, 0, 10},
        {"max-ejected", required_argument, 0, 11},     {"hedge", required_argument, 0, 12},
        {"retention", required_argument, 0, 13},       {"max-body-bytes", required_argument, 0, 14},
        {"drain-ms", required_argument, 0, 15},        {"max-connections", required_argument, 0, 16},
        {"max-connections-per-client", required_argument, 0, 17}, {"otlp-endpoint", required_argument, 0, 18},
        {"log-max-bytes", required_argument, 0, 19},   {"log-keep", required_argument, 0, 20},
        {"alerts", required_argument, 0, 21},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "gateway";
    for (;;) {
        int c = cli_getopt(argc, argv, "c:s:p:H:t:h", opts);
        if (c == -1)
            break;
        switch (c) {
        case 'c': o.channels_file = optarg; break;
        case 's': o.state_path = optarg; break;
        case 'H': o.host = optarg; break;
        case 'K': o.admin_key_file = optarg; break;
        case 'k': o.api_key_file = optarg; break;
        case 'a': o.access_log = optarg; break;
        case 18: o.otlp_endpoint = optarg; break;
        case 19:
            if (cli_int(cmd, "--log-max-bytes", optarg, 0, 1LL << 50, NULL, &v) < 0)
                return 2;
            o.log_max_bytes = (size_t)v;
            break;
        case 20:
            if (cli_int(cmd, "--log-keep", optarg, 1, 1000, NULL, &v) < 0)
                return 2;
            o.log_keep = (int)v;
            break;
        case 21: o.alerts_file = optarg; break;
        case 'e': error_log = optarg; break;
        case 'y': o.canaries_file = optarg; break;
        case 'S': o.dns_server = optarg; break;
        case 'E': o.etcd = optarg; break;
        case 12: o.hedge_models = optarg; break;
        case 'D':
            if (o.ndns == GW_MAX_DNS) {
                fprintf(stderr, "inferd gateway: --dns: at most %d names\n", GW_MAX_DNS);
                return 2;
            }
            o.dns[o.ndns++] = optarg;
            break;
        case 'p':
            if (cli_int(cmd, "--port", optarg, 0, 65535, "a port number", &v) < 0)
                return 2;
            o.port = (int)v;
            break;
        case 'O':
            if (cli_int(cmd, "--dns-port", optarg, 1, 65535, "a port number", &v) < 0)
                return 2;
            o.dns_port = (int)v;
            break;
        case 't':
            if (cli_int(cmd, "--threads", optarg, 1, 1024, NULL, &v) < 0)
                return 2;
            o.threads = (int)v;
            break;
        case 1:
        case 2:
        case 3: {
            static const char *names[] = {"", "--probe-interval", "--canary-interval", "--crawl-interval"};
            if (cli_int(cmd, names[c], optarg, 50, 86400000, NULL, &v) < 0)
                return 2;
            *(c == 1 ? &o.probe_interval_ms : c == 2 ? &o.canary_interval_ms : &o.crawl_interval_ms) = (int)v;
            break;
        }
        case 4:
            if (cli_int(cmd, "--max-attempts", optarg, 1, 4, NULL, &v) < 0)
                return 2;
            o.max_attempts = (int)v;
            break;
        case 5:
            if (cli_double(cmd, "--retry-budget", optarg, 0, 10, NULL, &d) < 0)
                return 2;
            o.retry_budget = d;
            break;
        case 6:
        case 7:
        case 8: {
            static const char *names[] = {"--connect-timeout", "--first-byte-timeout", "--upstream-timeout"};
            if (cli_int(cmd, names[c - 6], optarg, 10, 86400000, NULL, &v) < 0)
                return 2;
            *(c == 6 ? &o.connect_timeout_ms : c == 7 ? &o.first_byte_timeout_ms : &o.upstream_timeout_ms) = v;
            break;
        }
        case 9:
            if (cli_int(cmd, "--eject-failures", optarg, 1, 1000, NULL, &v) < 0)
                return 2;
            o.eject_failures = (int)v;
            break;
        case 10:
            if (cli_double(cmd, "--eject-ratio", optarg, 0.01, 1, NULL, &d) < 0)
                return 2;
            o.eject_ratio = d;
            break;
        case 11:
            if (cli_double(cmd, "--max-ejected", optarg, 0, 1, NULL, &d) < 0)
                return 2;
            o.max_ejected_share = d;
            break;
        case 13:
            if (cli_int(cmd, "--retention", optarg, 60, 10LL * 365 * 86400, NULL, &v) < 0)
                return 2;
            o.retention_s = v;
            break;
        case 14:
            if (cli_int(cmd, "--max-body-bytes", optarg, 1, 1LL << 40, NULL, &v) < 0)
                return 2;
            o.max_body_bytes = (size_t)v;
            break;
        case 15:
            if (cli_int(cmd, "--drain-ms", optarg, 0, 86400000, NULL, &v) < 0)
                return 2;
            drain_ms = v;
            break;
        case 16:
            if (cli_int(cmd, "--max-connections", optarg, 1, 1000000, NULL, &v) < 0)
                return 2;
            o.max_connections = (int)v;
            break;
        case 17:
            if (cli_int(cmd, "--max-connections-per-client", optarg, 1, 1000000, NULL, &v) < 0)
                return 2;
            o.max_conns_per_client = (unsigned)v;
            break;
        case 'h': usage(stdout); return 0;
        default: return cli_bad_option(cmd, argv);
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    sigset_t sigs;
    cli_signals_block(&sigs);
    if (error_log && log_open(error_log, LOG_INFO) < 0) {
        fprintf(stderr, "inferd gateway: --error-log %s: cannot open it\n", error_log);
        return 1;
    }
    struct gw *g;
    struct inferd_err err = {0};
    if (gw_start(&o, &g, &err) < 0) {
        fprintf(stderr, "inferd gateway: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "inferd gateway: listening on http://%s:%d (state in %s)\n", o.host, gw_port(g), o.state_path);
    cli_signals_wait(&sigs, reopen, g);
    long left = gw_drain(g, (int)drain_ms);
    gw_free(g);
    fprintf(stderr, "inferd gateway: stopped (%ld requests cut)\n", left);
    return left ? 1 : 0;
}
