/* tok_split.c — test helper: `tok_split PRE FILE` runs the BPE pre-tokenizer named PRE (a
 * tokenizer.ggml.pre value) over each NUL-separated text of FILE and prints, per text, one
 * line of "offset:length" words. `tok_split PRE --patterns` prints the patterns, one per line
 * as hex bytes. Used by the pre-tokenizer differential test. */
#include "llm/tokenizer/pretok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tok_split PRE FILE\n");
        return 2;
    }
    int rc = 1;
    struct inferd_err err = {0};
    struct tok_pretok *p = NULL;
    struct tok_spans words = {0};
    char *text = NULL;
    if (strcmp(argv[2], "--patterns") == 0) {
        if (tok_pretok_new(argv[1], strlen(argv[1]), &p, &err) < 0) {
            fprintf(stderr, "tok_split: %s\n", err.msg);
            return 1;
        }
        for (int i = 0; tok_pretok_source(p, i); i++) {
            for (const unsigned char *c = (const unsigned char *)tok_pretok_source(p, i); *c; c++)
                printf("%02x", *c);
            printf("\n");
        }
        tok_pretok_free(p);
        return 0;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f)
        goto done;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)len + 1);
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        goto done;
    }
    fclose(f);
    if (tok_pretok_new(argv[1], strlen(argv[1]), &p, &err) < 0) {
        fprintf(stderr, "tok_split: %s\n", err.msg);
        goto done;
    }
    for (long a = 0; a <= len;) {
        long b = a;
        while (b < len && text[b] != '\0')
            b++;
        if (tok_pretok_split(p, text + a, (size_t)(b - a), &words) < 0)
            goto done;
        for (size_t k = 0; k < words.n; k++)
            printf("%s%zu:%zu", k ? " " : "", words.v[k].off, words.v[k].len);
        printf("\n");
        a = b + 1;
    }
    rc = 0;
done:
    tok_spans_free(&words);
    tok_pretok_free(p);
    free(text);
    return rc;
}
