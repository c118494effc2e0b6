/* cli.h — the `inferd` subcommands and the argument helpers they share. main.c dispatches
 * argv[1] to one of these; each lives in its own cli_<name>.c and does argument parsing
 * (getopt_long, through the helpers below) and printing only — the work belongs to a library
 * part (serve, onnx, llm, client). Each returns the process exit code: 0 ok, 1 failure,
 * 2 usage error.
 *
 *   static const struct option opts[] = {{"port", required_argument, 0, 'p'}, {0, 0, 0, 0}};
 *   for (int c = cli_getopt(argc, argv, "p:", opts); c != -1; c = cli_getopt(argc, argv, "p:", opts))
 *       if (c == '?') return cli_bad_option("serve", argv);
 *       else if (cli_int("serve", "--port", optarg, 0, 65535, "a port number", &v) < 0)
 *           return 2;   // printed: inferd serve: --port: 'abc' is not a port number
 */
#ifndef INFERD_CLI_H
#define INFERD_CLI_H

#include <getopt.h>

int cli_serve(int argc, char **argv);    /* inferd serve --models DIR --port N ... */
int cli_infer(int argc, char **argv);    /* inferd infer URL MODEL FILE|- [--retries N] ... */
int cli_generate(int argc, char **argv); /* inferd generate MODEL.gguf -p PROMPT ... */
int cli_tokenize(int argc, char **argv); /* inferd tokenize MODEL.gguf TEXT */
int cli_perplexity(int argc, char **argv); /* inferd perplexity -m MODEL.gguf -f TEXT */
int cli_chat(int argc, char **argv);     /* inferd chat URL MODEL */
int cli_gateway(int argc, char **argv);  /* inferd gateway --channels F --port N ... */
int cli_eval(int argc, char **argv);     /* inferd eval URL [URL...] [--model M]... [--json] */
int cli_pack(int argc, char **argv);     /* inferd pack SRC --name N [--version V] [-o DIR] [--sign KEY] */
int cli_keygen(int argc, char **argv);   /* inferd keygen NAME: NAME.key + NAME.pub */
int cli_register(int argc, char **argv); /* inferd register PKG --repo DIR [--trust KEYS] */
int cli_list(int argc, char **argv);     /* inferd list --repo DIR */
int cli_show(int argc, char **argv);     /* inferd show M --repo DIR */
int cli_rm(int argc, char **argv);       /* inferd rm M[:V] --repo DIR */
int cli_verify(int argc, char **argv);
int cli_push(int argc, char **argv);     /* inferd push PKG oci://HOST:PORT/NAME:TAG */
int cli_pull(int argc, char **argv);     /* inferd pull oci://HOST:PORT/NAME:TAG [-o DIR] */   /* inferd verify PKG|VERSION_DIR [--trust KEYS] */

/* Progress of a copy on stderr (cli_progress.c): a redrawn bar with bytes, rate and ETA
 * on a terminal, a plain line per quarter otherwise; cli_progress_end prints the summary. */
#include <stdint.h>
struct cli_progress {
    const char *what;
    int tty, drawn, quarter;
    int64_t start_ns, last_ns, done; /* done: bytes over every file so far */
    int64_t base, cur;               /* files finished before this one; this one's bytes */
};
void cli_progress_init(struct cli_progress *p, const char *what);
void cli_progress_cb(void *ctx, int64_t done, int64_t total); /* a file_progress_fn */
void cli_progress_end(struct cli_progress *p);

/* getopt_long over a subcommand's argv (argv[0] is the subcommand's name), restarted from
 * the first argument when argv changes, with GNU permutation (flags and positionals mix;
 * a shortopts that starts with '+' stops at the first positional instead) and getopt's own
 * messages off: an unknown option or one missing its value returns '?' (see
 * cli_bad_option). */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* Prints "inferd CMD: unknown option 'ARG'" or "inferd CMD: ARG needs a value" for the
 * option cli_getopt just returned '?' for (cmd NULL: main's own options), and returns 2
 * (the usage-error exit code). */
int cli_bad_option(const char *cmd, char **argv);
/* Parses v as a whole decimal integer in lo..hi into *out. On failure prints
 * "inferd CMD: FLAG: 'V' is not WHAT" (WHAT NULL: "an integer in LO..HI") and returns -1. */
int cli_int(const char *cmd, const char *flag, const char *v, long long lo, long long hi, const char *what,
            long long *out);
/* The same for a number (strtod) in [lo, hi]. */
int cli_double(const char *cmd, const char *flag, const char *v, double lo, double hi, const char *what,
               double *out);

/* Signals for long-running subcommands: SIGTERM, SIGINT and SIGHUP are blocked in this
 * thread before any server thread starts (so every thread inherits the mask) and taken
 * synchronously by cli_signals_wait: no handler runs server code. SIGPIPE is ignored.
 * Call cli_signals_block first thing, then start the server, then cli_signals_wait, which
 * calls on_hup(ctx) for each SIGHUP and returns at SIGTERM or SIGINT. */
#include <signal.h>
void cli_signals_block(sigset_t *sigs);
void cli_signals_wait(const sigset_t *sigs, void (*on_hup)(void *ctx), void *ctx);

#endif
