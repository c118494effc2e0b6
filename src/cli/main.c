/* main.c — `inferd` entry point: dispatches to one subcommand. */
#include "cli.h"
#include "inferd/version.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"serve", cli_serve, "serve every model in a model repository over HTTP"},
    {"infer", cli_infer, "call a served model (with retry and fail-over)"},
    {"generate", cli_generate, "generate text from a GGUF model on this machine"},
    {"tokenize", cli_tokenize, "show the tokens a GGUF model makes of a text"},
    {"perplexity", cli_perplexity, "a GGUF model's perplexity on a text file (as llama-perplexity)"},
    {"gateway", cli_gateway, "one front door over many serving endpoints (channels)"},
    {"chat", cli_chat, "talk to an LLM served by inferd or any OpenAI-compatible server"},
    {"eval", cli_eval, "probe endpoints, send canaries, compare their answers, recommend"},
    {"pack", cli_pack, "make a model package (model file, config.json, manifest.json) from ONNX or GGUF"},
    {"keygen", cli_keygen, "make an ed25519 key pair for signing packages"},
    {"verify", cli_verify, "check a package's sha256 digests (and signature with --trust)"},
    {"register", cli_register, "copy a package into a model repository folder (atomic)"},
    {"list", cli_list, "list the models and versions in a repository folder"},
    {"show", cli_show, "show a model's config.json and versions in a repository folder"},
    {"rm", cli_rm, "remove a model or one version from a repository folder"},
    {"push", cli_push, "push a package to an OCI registry (oci://HOST:PORT/NAME:TAG)"},
    {"pull", cli_pull, "pull a package from an OCI registry (resumable)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: inferd <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "version", "print the version (also --version)");
    fprintf(out, "  %-10s %s\n", "help", "this text (also -h, --help)");
    fprintf(out, "\n'inferd <command> --help' describes each command's options.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0},
    };
    int c;
    /* Options before the command; '+' stops at the command, whose own flags follow it. */
    for (;;) {
        c = cli_getopt(argc, argv, "+hV", opts);
        if (c == -1)
            break;
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'V': printf("inferd %s\n", INFERD_VERSION); return 0;
        default: return cli_bad_option(NULL, argv);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        printf("inferd %s\n", INFERD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - optind, argv + optind);
    fprintf(stderr, "inferd: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
