/* cli_pack.c — `inferd pack`, `keygen`, `verify`, `register`, `list`, `show`, `rm`:
 * argument parsing and printing over src/pack (pack.h, sign.h, store.h). */
#include "cli.h"

#include "pack/manifest.h"
#include "pack/oci.h"
#include "pack/pack.h"
#include "pack/sign.h"
#include "pack/store.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void pack_usage(FILE *out)
{
    fprintf(out,
            "usage: inferd pack SRC --name NAME [--version V] [-o DIR] [--sign KEY] [--set KEY=VALUE]...\n"
            "  Makes a model package from an ONNX (*.onnx), GGUF or TFLite file (TFLite is converted to\n"
            "  ONNX; a llama2.c checkpoint with --tokenizer to GGUF): DIR/NAME/config.json and\n"
            "  DIR/NAME/V/{model.onnx|model.gguf, config.json, manifest.json[, manifest.sig]}.\n"
            "  `inferd serve --models DIR` serves it as it is; `inferd register DIR --repo R` adds it\n"
            "  to a repository. config.json is inferred from the model (inputs, outputs, batching;\n"
            "  LLM context) and overridden member by member by the flags. See docs/deploy.md.\n"
            "options:\n"
            "  --name NAME          model name (A-Z a-z 0-9 _ . -)\n"
            "  --version V          version number (default 1)\n"
            "  -o, --output DIR     package folder to create (default NAME-V)\n"
            "  --sign KEY           sign manifest.json with this secret key (inferd keygen)\n"
            "  --set KEY=VALUE      config.json member; VALUE is JSON, else taken as a string\n"
            "                       (--set max_batch_size=16 --set dynamic_batching='{}')\n"
            "  --tokenizer TOK.bin  SRC is a llama2.c checkpoint: convert it with this tokenizer to GGUF\n"
            "  --max-batch-size N   = --set max_batch_size=N\n"
            "  --context-size N     = --set context_size=N (GGUF)\n"
            "  --optimize           ONNX: fold constants, BatchNormalization into Conv, drop Identity,\n"
            "                       Dropout and dead nodes, written into model.onnx (ORT still loads it)\n"
            "  --quantize int8      ONNX: Conv/MatMul/Gemm weights to int8 + DequantizeLinear (per channel)\n"
            "  --quantize SCHEME    GGUF: re-write the weights quantized, with llama-quantize's mixes:\n"
            "                       Q8_0 Q4_0 Q4_K_M (= Q4_K) Q5_K_M (= Q5_K) Q6_K Q4_K_S Q5_K_S\n"
            "                       Q3_K_M (= Q3_K) Q2_K IQ4_NL IQ4_XS; prints the sizes before/after\n"
            "  --calib TEXT         with a GGUF --quantize: perplexity on this text file before and after\n"
            "  --calib-ctx N        its chunk size in tokens (default min(512, model context))\n"
            "  --calib-chunks K     score at most K chunks (default all)\n"
            "  -t, --threads N      quantization and perplexity threads (default all CPUs)\n"
            "  -q, --quiet          no progress output\n");
}

/* Adds KEY=VALUE to obj. Returns 0 or -1 (printed). */
static int add_set(json_t *obj, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || eq - kv > 64) {
        fprintf(stderr, "inferd pack: --set: '%s' is not KEY=VALUE\n", kv);
        return -1;
    }
    char key[65];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    json_error_t je;
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, &je);
    if (!v)
        v = json_string(eq + 1);
    if (!v || json_object_set_new(obj, key, v) < 0) {
        fprintf(stderr, "inferd pack: --set %s: out of memory\n", key);
        return -1;
    }
    return 0;
}

/* Perplexity chunks of --calib: a plain line per pass (the model before, then after). */
static void calib_progress(void *ctx, int64_t done, int64_t total)
{
    (void)ctx;
    if (done == total)
        fprintf(stderr, "perplexity: %lld chunks done\n", (long long)total);
}

int cli_pack(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, 0, 'n'},   {"version", required_argument, 0, 'v'},
        {"output", required_argument, 0, 'o'}, {"sign", required_argument, 0, 'S'},
        {"set", required_argument, 0, 's'},    {"max-batch-size", required_argument, 0, 'b'},
        {"context-size", required_argument, 0, 'c'}, {"quiet", no_argument, 0, 'q'},
        {"tokenizer", required_argument, 0, 'T'},
        {"optimize", no_argument, 0, 'O'},     {"quantize", required_argument, 0, 'Q'},
        {"calib", required_argument, 0, 'C'},  {"calib-ctx", required_argument, 0, 'X'},
        {"calib-chunks", required_argument, 0, 'K'}, {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    struct pack_opts o = {.version = 1};
    struct pack_secret_key sk;
    const char *sign = NULL;
    char outbuf[300], kv[64];
    int quiet = 0, rc = 2, c;
    long long v;
    json_t *ov = json_object();
    if (!ov)
        return 1;
    while ((c = cli_getopt(argc, argv, "n:v:o:t:qh", opts)) != -1) {
        switch (c) {
        case 'n': o.name = optarg; break;
        case 'C': o.calib = optarg; break;
        case 'X':
        case 'K':
        case 't':
            if (cli_int("pack", c == 'X' ? "--calib-ctx" : c == 'K' ? "--calib-chunks" : "--threads", optarg,
                        c == 'X' ? 4 : 1, c == 't' ? 1024 : 1 << 20, NULL, &v) < 0)
                goto done;
            *(c == 'X' ? &o.calib_ctx : c == 'K' ? &o.calib_chunks : &o.threads) = (int)v;
            break;
        case 'o': o.out_dir = optarg; break;
        case 'S': sign = optarg; break;
        case 'T': o.tokenizer = optarg; break;
        case 'O': o.onnx_optimize = 1; break;
        case 'Q': /* int8: ONNX weights; anything else a GGUF scheme (pack_build checks it) */
            if (strcmp(optarg, "int8") == 0)
                o.onnx_int8 = 1;
            else
                o.quantize = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'v':
            if (cli_int("pack", "--version", optarg, 1, 999999999999999LL, "a version number (1 or more)", &v) < 0)
                goto done;
            o.version = v;
            break;
        case 's':
            if (add_set(ov, optarg) < 0)
                goto done;
            break;
        case 'b':
        case 'c':
            if (cli_int("pack", c == 'b' ? "--max-batch-size" : "--context-size", optarg, 0, 1 << 24, NULL, &v) < 0)
                goto done;
            snprintf(kv, sizeof kv, "%s=%lld", c == 'b' ? "max_batch_size" : "context_size", v);
            add_set(ov, kv);
            break;
        case 'h': pack_usage(stdout); rc = 0; goto done;
        default: cli_bad_option("pack", argv); goto done;
        }
    }
    if (optind + 1 != argc || !o.name) {
        pack_usage(stderr);
        goto done;
    }
    o.src = argv[optind];
    if (!o.out_dir) {
        snprintf(outbuf, sizeof outbuf, "%.200s-%lld", o.name, (long long)o.version);
        o.out_dir = outbuf;
    }
    struct inferd_err err = {0};
    rc = 1;
    if (sign) {
        if (pack_secret_key_load(sign, &sk, &err) < 0) {
            fprintf(stderr, "inferd pack: --sign: %s\n", err.msg);
            goto done;
        }
        o.sign = &sk;
    }
    o.overrides = ov;
    struct cli_progress prog;
    cli_progress_init(&prog, o.quantize ? "quantize" : "copy");
    if (!quiet) {
        o.progress = cli_progress_cb;
        o.progress_ctx = &prog;
        o.quant_progress = cli_progress_cb;
        o.calib_progress = calib_progress;
    }
    struct pack_result res;
    int r = pack_build(&o, &res, &err);
    memset(&sk, 0, sizeof sk);
    if (r < 0) {
        fprintf(stderr, "inferd pack: %s\n", err.msg);
        goto done;
    }
    if (!quiet && prog.done)
        cli_progress_end(&prog);
    if (o.onnx_optimize || o.onnx_int8) {
        printf("optimized: %s\n  size %lld -> %lld bytes (%.1f%%)\n", res.changes, (long long)res.size_before,
               (long long)res.size, res.size_before ? 100.0 * (double)res.size / (double)res.size_before : 0.0);
        if (res.max_abs_diff >= 0)
            printf("  output difference on a random input: max abs %.3g (largest output value %.3g)\n",
                   res.max_abs_diff, res.max_ref);
        else
            printf("  output difference: not measured (inputs that are not FP32)\n");
    }
    printf("packed %s version %lld (%s, %lld bytes, sha256 %s)%s\n  %s\n", o.name, (long long)o.version, res.format,
           (long long)res.size, res.sha256, o.sign ? ", signed" : "", res.version_dir);
    if (o.quantize) {
        const struct gguf_quant_stats *q = &res.quant;
        printf("quantized %s: %lld -> %lld bytes (%.1f%%) in %.1fs; %d of %d tensors quantized (%d fallbacks, %d "
               "re-quantized); types:",
               q->scheme, (long long)q->bytes_in, (long long)q->bytes_out,
               q->bytes_in ? 100.0 * (double)q->bytes_out / (double)q->bytes_in : 0, q->seconds, q->n_quantized,
               q->n_tensors, q->n_fallback, q->n_requantized);
        for (int t = 0; t < GGML_TYPE_COUNT; t++)
            if (q->n_by_type[t])
                printf(" %s %d", ggml_type_name((enum ggml_type)t), q->n_by_type[t]);
        printf("\n");
        if (res.has_ppl)
            printf("perplexity on %s (%d chunks of %d tokens): %.4f before, %.4f after (%+.2f%%)\n", o.calib,
                   res.ppl_chunks, res.ppl_ctx, res.ppl_before, res.ppl_after,
                   100.0 * (res.ppl_after / res.ppl_before - 1));
    }
    rc = 0;
done:
    json_decref(ov);
    return rc;
}

int cli_keygen(int argc, char **argv)
{
    int c;
    while ((c = cli_getopt(argc, argv, "h", (const struct option[]){{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}})) !=
           -1) {
        if (c == 'h') {
            printf("usage: inferd keygen NAME\n  Writes NAME.key (secret, mode 0600) and NAME.pub (public; put it in\n"
                   "  the trust file of `inferd serve --trust` and `inferd register --trust`).\n");
            return 0;
        }
        return cli_bad_option("keygen", argv);
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: inferd keygen NAME\n");
        return 2;
    }
    char sp[1024], pp[1024];
    if (snprintf(sp, sizeof sp, "%s.key", argv[optind]) >= (int)sizeof sp ||
        snprintf(pp, sizeof pp, "%s.pub", argv[optind]) >= (int)sizeof pp) {
        fprintf(stderr, "inferd keygen: NAME too long\n");
        return 2;
    }
    struct inferd_err err = {0};
    struct pack_secret_key sk;
    if (pack_keygen(sp, pp, &sk, &err) < 0) {
        fprintf(stderr, "inferd keygen: %s\n", err.msg);
        return 1;
    }
    printf("key %s\n  secret: %s (keep it private)\n  public: %s\n", sk.id, sp, pp);
    memset(&sk, 0, sizeof sk);
    return 0;
}

/* The repository folder: --repo, else $INFERD_REPO. */
static const char *repo_or_env(const char *repo, const char *cmd)
{
    if (!repo)
        repo = getenv("INFERD_REPO");
    if (!repo || !*repo)
        fprintf(stderr, "inferd %s: --repo DIR is required (or set INFERD_REPO)\n", cmd);
    return repo && *repo ? repo : NULL;
}

/* Common flags --repo and --trust; positional arguments stay in argv[optind..]. */
static int repo_flags(const char *cmd, int argc, char **argv, const char **repo, const char **trust, const char *help)
{
    static const struct option opts[] = {
        {"repo", required_argument, 0, 'r'}, {"trust", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = cli_getopt(argc, argv, "r:h", opts)) != -1) {
        switch (c) {
        case 'r': *repo = optarg; break;
        case 't':
            if (!trust)
                return cli_bad_option(cmd, argv);
            *trust = optarg;
            break;
        case 'h': printf("%s", help); return 0;
        default: return cli_bad_option(cmd, argv);
        }
    }
    return -1;
}

int cli_register(int argc, char **argv)
{
    const char *repo = NULL, *trust = NULL;
    int r = repo_flags("register", argc, argv, &repo, &trust,
                       "usage: inferd register PKG --repo DIR [--trust KEYS]\n"
                       "  Verifies a package (sha256 and size of every file; with --trust its signature\n"
                       "  by one of the keys in KEYS) and copies it into the repository folder DIR, atomically.\n");
    if (r >= 0)
        return r;
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: inferd register PKG --repo DIR [--trust KEYS]\n");
        return 2;
    }
    if (!(repo = repo_or_env(repo, "register")))
        return 2;
    struct inferd_err err = {0};
    struct pack_keyring kr;
    if (trust && pack_keyring_load(trust, &kr, &err) < 0) {
        fprintf(stderr, "inferd register: --trust: %s\n", err.msg);
        return 1;
    }
    struct pack_register_result rr;
    if (pack_register(argv[optind], repo, trust ? &kr : NULL, &rr, &err) < 0) {
        fprintf(stderr, "inferd register: %s\n", err.msg);
        return 1;
    }
    printf("%s %s version %lld in %s%s\n", rr.already ? "already registered:" : "registered", rr.name,
           (long long)rr.version, repo, rr.signed_by_trusted ? " (signature verified)" : "");
    return 0;
}

int cli_verify(int argc, char **argv)
{
    const char *repo = NULL, *trust = NULL;
    int r = repo_flags("verify", argc, argv, &repo, &trust,
                       "usage: inferd verify PKG|VERSION_DIR [--trust KEYS]\n"
                       "  Checks every file's size and sha256 against manifest.json (and that no other file\n"
                       "  is there); with --trust also the signature. Exit 0 when it holds, 1 when not.\n");
    if (r >= 0)
        return r;
    if (optind + 1 != argc || repo) {
        fprintf(stderr, "usage: inferd verify PKG|VERSION_DIR [--trust KEYS]\n");
        return 2;
    }
    char name[128], mdir[PATH_MAX_LEN], vdir[PATH_MAX_LEN], man[PATH_MAX_LEN];
    int64_t version = 0;
    struct inferd_err err = {0};
    struct pack_keyring kr;
    struct pack_manifest m;
    if (trust && pack_keyring_load(trust, &kr, &err) < 0) {
        fprintf(stderr, "inferd verify: --trust: %s\n", err.msg);
        return 1;
    }
    if (path_join(man, sizeof man, argv[optind], "manifest.json", NULL) == 0 && access(man, F_OK) == 0)
        snprintf(vdir, sizeof vdir, "%s", argv[optind]);
    else if (pack_open(argv[optind], name, &version, mdir, vdir, &err) < 0) {
        fprintf(stderr, "inferd verify: %s\n", err.msg);
        return 1;
    }
    if (trust)
        r = pack_verify_version(vdir, &kr, &err);
    else if ((r = pack_manifest_load(vdir, &m, &err)) == 0) {
        r = pack_manifest_check(&m, vdir, 1, &err);
        pack_manifest_free(&m);
    }
    if (r < 0) {
        fprintf(stderr, "inferd verify: %s\n", err.msg);
        return 1;
    }
    printf("ok: %s%s\n", vdir, trust ? " (signature verified)" : "");
    return 0;
}

int cli_list(int argc, char **argv)
{
    const char *repo = NULL;
    int r = repo_flags("list", argc, argv, &repo, NULL,
                       "usage: inferd list --repo DIR\n  Lists every model version in a repository folder.\n");
    if (r >= 0)
        return r;
    if (optind != argc) {
        fprintf(stderr, "usage: inferd list --repo DIR\n");
        return 2;
    }
    if (!(repo = repo_or_env(repo, "list")))
        return 2;
    struct pack_row *rows;
    size_t n;
    struct inferd_err err = {0};
    if (pack_list(repo, &rows, &n, &err) < 0) {
        fprintf(stderr, "inferd list: %s\n", err.msg);
        return 1;
    }
    printf("%-32s %-8s %-6s %-12s %-6s %-14s %s\n", "NAME", "VERSION", "FORMAT", "ID", "SIGNED", "SIZE", "MODIFIED");
    for (size_t i = 0; i < n; i++) {
        char when[32], size[32];
        time_t t = (time_t)rows[i].mtime;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        double s = (double)rows[i].size;
        if (s >= 1 << 30)
            snprintf(size, sizeof size, "%.1f GB", s / (1 << 30));
        else if (s >= 1 << 20)
            snprintf(size, sizeof size, "%.1f MB", s / (1 << 20));
        else if (s >= 1 << 10)
            snprintf(size, sizeof size, "%.1f KB", s / (1 << 10));
        else
            snprintf(size, sizeof size, "%.0f B", s);
        printf("%-32s %-8lld %-6s %-12.12s %-6s %-14s %s\n", rows[i].name, (long long)rows[i].version, rows[i].format,
               rows[i].sha256[0] ? rows[i].sha256 : "-", rows[i].is_signed ? "yes" : "no", size, when);
    }
    free(rows);
    return 0;
}

int cli_show(int argc, char **argv)
{
    const char *repo = NULL;
    int r = repo_flags("show", argc, argv, &repo, NULL,
                       "usage: inferd show MODEL --repo DIR\n"
                       "  Prints a model's config.json and each version's manifest as JSON.\n");
    if (r >= 0)
        return r;
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: inferd show MODEL --repo DIR\n");
        return 2;
    }
    if (!(repo = repo_or_env(repo, "show")))
        return 2;
    json_t *o;
    struct inferd_err err = {0};
    if (pack_show(repo, argv[optind], &o, &err) < 0) {
        fprintf(stderr, "inferd show: %s\n", err.msg);
        return 1;
    }
    json_dumpf(o, stdout, JSON_INDENT(2));
    printf("\n");
    json_decref(o);
    return 0;
}

int cli_rm(int argc, char **argv)
{
    const char *repo = NULL;
    int r = repo_flags("rm", argc, argv, &repo, NULL,
                       "usage: inferd rm MODEL[:VERSION]... --repo DIR\n"
                       "  Removes a model, or one version of it, from a repository folder (atomic; a\n"
                       "  running server unloads it at its next scan).\n");
    if (r >= 0)
        return r;
    if (optind >= argc) {
        fprintf(stderr, "usage: inferd rm MODEL[:VERSION]... --repo DIR\n");
        return 2;
    }
    if (!(repo = repo_or_env(repo, "rm")))
        return 2;
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        char name[200];
        long long v = 0;
        snprintf(name, sizeof name, "%s", argv[i]);
        char *colon = strchr(name, ':');
        if (colon) {
            *colon = '\0';
            if (cli_int("rm", "VERSION", colon + 1, 1, 999999999999999LL, "a version number", &v) < 0)
                return 2;
        }
        struct inferd_err err = {0};
        if (pack_rm(repo, name, v, &err) < 0) {
            fprintf(stderr, "inferd rm: %s\n", err.msg);
            rc = 1;
            continue;
        }
        if (v)
            printf("deleted %s version %lld\n", name, v);
        else
            printf("deleted %s\n", name);
    }
    return rc;
}

/* push and pull share --user, --chunk-size, -q. */
static int oci_flags(const char *cmd, int argc, char **argv, struct oci_opts *o, const char **out, int *quiet)
{
    static const struct option opts[] = {
        {"user", required_argument, 0, 'u'},  {"chunk-size", required_argument, 0, 'c'},
        {"output", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    long long v;
    int c;
    o->user_pass = getenv("INFERD_REGISTRY_AUTH");
    while ((c = cli_getopt(argc, argv, "u:o:qh", opts)) != -1) {
        switch (c) {
        case 'u': o->user_pass = optarg; break;
        case 'o':
            if (!out)
                return cli_bad_option(cmd, argv);
            *out = optarg;
            break;
        case 'q': *quiet = 1; break;
        case 'c':
            if (cli_int(cmd, "--chunk-size", optarg, 4096, 1LL << 30, NULL, &v) < 0)
                return 2;
            o->chunk_bytes = v;
            break;
        case 'h':
            printf("usage: inferd push PKG oci://HOST:PORT/NAME[:TAG] [--user USER:PASSWORD] [--chunk-size N] [-q]\n"
                   "       inferd pull oci://HOST:PORT/NAME[:TAG] [-o DIR] [--user USER:PASSWORD] [-q]\n"
                   "  A package in an OCI distribution registry: model files as layers, manifest.json as\n"
                   "  the config (docs/deploy.md). A cut pull resumes where it stopped when run again.\n"
                   "  INFERD_REGISTRY_AUTH=USER:PASSWORD works like --user. ocis:// uses https.\n");
            return 0;
        default: return cli_bad_option(cmd, argv);
        }
    }
    return -1;
}

int cli_push(int argc, char **argv)
{
    struct oci_opts o = {0};
    int quiet = 0;
    int r = oci_flags("push", argc, argv, &o, NULL, &quiet);
    if (r >= 0)
        return r;
    if (optind + 2 != argc) {
        fprintf(stderr, "usage: inferd push PKG oci://HOST:PORT/NAME[:TAG]\n");
        return 2;
    }
    struct oci_ref ref;
    struct inferd_err err = {0};
    if (oci_parse_ref(argv[optind + 1], &ref, &err) < 0) {
        fprintf(stderr, "inferd push: %s\n", err.msg);
        return 2;
    }
    struct cli_progress prog;
    cli_progress_init(&prog, "push");
    if (!quiet) {
        o.progress = cli_progress_cb;
        o.progress_ctx = &prog;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r = oci_push(argv[optind], &ref, &o, &err);
    curl_global_cleanup();
    if (r < 0) {
        fprintf(stderr, "%sinferd push: %s\n", prog.drawn ? "\n" : "", err.msg);
        return 1;
    }
    if (!quiet && prog.done)
        cli_progress_end(&prog);
    printf("pushed %s to %s://%s/%s:%s\n", argv[optind], ref.scheme, ref.host, ref.name, ref.tag);
    return 0;
}

int cli_pull(int argc, char **argv)
{
    struct oci_opts o = {0};
    const char *out = NULL;
    char outbuf[300];
    int quiet = 0;
    int r = oci_flags("pull", argc, argv, &o, &out, &quiet);
    if (r >= 0)
        return r;
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: inferd pull oci://HOST:PORT/NAME[:TAG] [-o DIR]\n");
        return 2;
    }
    struct oci_ref ref;
    struct inferd_err err = {0};
    if (oci_parse_ref(argv[optind], &ref, &err) < 0) {
        fprintf(stderr, "inferd pull: %s\n", err.msg);
        return 2;
    }
    if (!out) {
        const char *base = strrchr(ref.name, '/') ? strrchr(ref.name, '/') + 1 : ref.name;
        snprintf(outbuf, sizeof outbuf, "%.150s-%.128s", base, ref.tag);
        out = outbuf;
    }
    struct cli_progress prog;
    cli_progress_init(&prog, "pull");
    if (!quiet) {
        o.progress = cli_progress_cb;
        o.progress_ctx = &prog;
    }
    char name[128];
    int64_t version = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r = oci_pull(&ref, out, &o, name, &version, &err);
    curl_global_cleanup();
    if (r < 0) {
        fprintf(stderr, "%sinferd pull: %s\n", prog.drawn ? "\n" : "", err.msg);
        return 1;
    }
    if (!quiet && prog.done)
        cli_progress_end(&prog);
    printf("pulled %s version %lld into %s\n", name, (long long)version, out);
    return 0;
}
