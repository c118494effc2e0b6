/* cli_tokenize.c — `inferd tokenize MODEL.gguf TEXT`: one line per token, "id -> 'piece'". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "inferd/llm.h"

int cli_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL;
    int add_special = 1, parse_special = 1, ids_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-bos"))
            add_special = 0;
        else if (!strcmp(argv[i], "--no-parse-special"))
            parse_special = 0;
        else if (!strcmp(argv[i], "--ids"))
            ids_only = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            model = text = NULL, i = argc;
        else if (!model)
            model = argv[i];
        else if (!text)
            text = argv[i];
        else {
            fprintf(stderr, "inferd tokenize: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (!model || !text) {
        fprintf(stderr, "usage: inferd tokenize MODEL.gguf TEXT [--no-bos] [--no-parse-special] [--ids]\n");
        return 2;
    }
    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    if (inferd_llm_load(model, &(struct inferd_llm_load_params){.n_threads = 1}, &m, &err) < 0) {
        fprintf(stderr, "inferd tokenize: %s\n", err.msg);
        return 1;
    }
    size_t len = strlen(text);
    int cap = (int)(len + 16 < (1u << 24) ? len + 16 : (1u << 24));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    int rc = 1;
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
    return rc;
}
