/* tok_bench.c — times inferd's tokenizer: `tok_bench VOCAB.gguf TEXT_FILE SECONDS`.
 * Encodes the whole file (no BOS, no special parsing) repeatedly for about SECONDS of CPU time
 * and prints one line: "inferd n_bytes=B n_tokens=N us_per_call=T", then the ids on the next
 * line (so a bench script can check them against the peer's).
 * `tok_bench VOCAB.gguf TEXT_FILE --nul` instead encodes each NUL-separated text of the file
 * once and prints one line of ids per text (differential tests against reference tokenizers). */
#include "llm/gguf.h"
#include "llm/tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);  /* CPU time: fairer on a shared machine */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tok_bench VOCAB.gguf TEXT_FILE SECONDS\n");
        return 2;
    }
    int rc = 1;
    struct inferd_err err = {0};
    struct gguf_file *g = NULL;
    struct tokenizer *t = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        goto done;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)len + 1);
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        goto done;
    }
    fclose(f);
    if (gguf_open(argv[1], &g, &err) < 0 || tokenizer_from_gguf(g, &t, &err) < 0) {
        fprintf(stderr, "tok_bench: %s\n", err.msg);
        goto done;
    }
    int cap = (int)len + 16;
    ids = malloc((size_t)cap * sizeof *ids);
    if (!ids)
        goto done;
    if (strcmp(argv[3], "--nul") == 0) {
        for (long a = 0; a <= len;) {
            long b = a;
            while (b < len && text[b] != '\0')
                b++;
            int n = tokenizer_encode(t, text + a, (size_t)(b - a), 0, 0, ids, cap);
            if (n < 0 || n > cap)
                goto done;
            for (int i = 0; i < n; i++)
                printf("%s%d", i ? " " : "", ids[i]);
            printf("\n");
            a = b + 1;
        }
        rc = 0;
        goto done;
    }
    double secs = atof(argv[3]), t0 = now_s(), t1;
    long calls = 0;
    int n = 0;
    do {
        n = tokenizer_encode(t, text, (size_t)len, 0, 0, ids, cap);
        calls++;
        t1 = now_s();
    } while (t1 - t0 < secs && calls < 1000000);
    if (n < 0 || n > cap)
        goto done;
    printf("inferd n_bytes=%ld n_tokens=%d us_per_call=%.2f\n", len, n, (t1 - t0) / (double)calls * 1e6);
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
    rc = 0;
done:
    free(ids);
    free(text);
    tokenizer_free(t);
    gguf_close(g);
    return rc;
}
