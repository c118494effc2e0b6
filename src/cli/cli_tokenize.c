/* cli_tokenize.c — `inferd tokenize MODEL.gguf TEXT`: one line per token, "id -> 'piece'". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "inferd/llm.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inferd tokenize MODEL.gguf TEXT [options]\n"
            "  Prints the tokens MODEL's tokenizer makes of TEXT, one \"id -> 'piece'\" a line.\n"
            "options:\n"
            "  --no-bos              do not add BOS/EOS as the model's metadata says\n"
            "  --no-parse-special    special-token text in TEXT is plain text\n"
            "  --ids                 print only the ids, on one line\n"
            "  -h, --help            this text\n"
            "TEXT may start with '-'; put -- before a TEXT that starts with '--'.\n");
}

/* 1 for the words tokenize reads as flags: "--name" (its flags are long ones without values)
 * and -h. */
static int is_flag(const char *a)
{
    return (a[0] == '-' && a[1] == '-' && a[2]) || strcmp(a, "-h") == 0;
}

int cli_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-bos", no_argument, 0, 'B'}, {"no-parse-special", no_argument, 0, 'S'},
        {"ids", no_argument, 0, 'i'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *model = NULL, *text = NULL;
    int add_special = 1, parse_special = 1, ids_only = 0, c, ac = 0, rc = 2;
    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    int32_t *ids = NULL;
    /* getopt would read a TEXT such as "-5 apples" as flags, so the flags go first and every
     * other word, in order, behind a "--" that ends them. */
    char **av = malloc(sizeof *av * ((size_t)argc + 2));
    if (!av) {
        fprintf(stderr, "inferd tokenize: out of memory\n");
        return 1;
    }
    av[ac++] = argv[0];
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_flag(argv[i]))
            av[ac++] = argv[i];
    static char end_of_flags[] = "--";
    av[ac++] = end_of_flags;
    for (int i = 1, rest = 0; i < argc; i++) {
        if (!rest && strcmp(argv[i], "--") == 0)
            rest = 1;
        else if (rest || !is_flag(argv[i]))
            av[ac++] = argv[i];
    }
    av[ac] = NULL;
    for (;;) {
        c = cli_getopt(ac, av, "h", opts);
        if (c == -1)
            break;
        switch (c) {
        case 'B': add_special = 0; break;
        case 'S': parse_special = 0; break;
        case 'i': ids_only = 1; break;
        case 'h': usage(stdout); rc = 0; goto done;
        default: rc = cli_bad_option("tokenize", av); goto done;
        }
    }
    if (optind < ac)
        model = av[optind++];
    if (optind < ac)
        text = av[optind++];
    if (optind < ac) {
        fprintf(stderr, "inferd tokenize: unexpected argument '%s'\n", av[optind]);
        goto done;
    }
    if (!model || !text) {
        usage(stderr);
        goto done;
    }
    rc = 1;
    if (inferd_llm_load(model, &(struct inferd_llm_load_params){.n_threads = 1}, &m, &err) < 0) {
        fprintf(stderr, "inferd tokenize: %s\n", err.msg);
        goto done;
    }
    size_t len = strlen(text);
    int cap = (int)(len + 16 < (1u << 24) ? len + 16 : (1u << 24));
    ids = malloc(sizeof(int32_t) * (size_t)cap);
    if (!ids) {
        fprintf(stderr, "inferd tokenize: out of memory\n");
        goto done;
    }
    int n = inferd_llm_tokenize(m, text, len, add_special, parse_special, ids, cap);
    if (n > cap) {
        fprintf(stderr, "inferd tokenize: more than %d tokens\n", cap);
        goto done;
    }
    if (ids_only) {
        for (int i = 0; i < n; i++)
            printf("%s%d", i ? " " : "", ids[i]);
        printf("\n");
    } else {
        for (int i = 0; i < n; i++) {
            char piece[256];
            int pl = inferd_llm_token_to_piece(m, ids[i], piece, sizeof piece);
            printf("%6d -> '%.*s'\n", ids[i], pl > 0 ? pl : 0, piece);
        }
    }
    rc = 0;
done:
    free(ids);
    inferd_llm_free(m);
    free(av);
    return rc;
}
