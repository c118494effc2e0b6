/* test_onnx_noalloc.c — inferd_onnx_run must not allocate on a shape it has seen: this
 * test wraps glibc's malloc family (the executable's definitions win over libc's) and
 * counts calls made during repeated runs of data/tiny_mlp.onnx (batches 1, 3, 8: the
 * dot-product, OpenBLAS and packed-kernel GEMM paths) and of hello_deepa when installed.
 * Not built with sanitizers (they own malloc). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "inferd/onnx.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static int counting;
static long n_allocs;

void *malloc(size_t n)
{
    n_allocs += counting;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    n_allocs += counting;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    n_allocs += counting;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n)
{
    n_allocs += counting;
    return __libc_memalign(al, n);
}
void *memalign(size_t al, size_t n)
{
    n_allocs += counting;
    return __libc_memalign(al, n);
}
int posix_memalign(void **p, size_t al, size_t n)
{
    n_allocs += counting;
    *p = __libc_memalign(al, n);
    return *p ? 0 : 12;
}
void free(void *p)
{
    __libc_free(p);
}

static void runs(const char *path, int rank, const int64_t *dims, const char *what)
{
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    if (inferd_onnx_load(path, NULL, &m, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        CHECK(0);
        return;
    }
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = rank};
    memcpy(in.dims, dims, (size_t)rank * sizeof *dims);
    int64_t n = inferd_shape_numel(rank, dims);
    float *x = __libc_calloc((size_t)n, sizeof *x);
    in.data = x;
    in.nbytes = (size_t)n * sizeof *x;
    struct inferd_tensor out[4];
    counting = 1; /* the first run builds the plan: it must allocate (the counter works) */
    n_allocs = 0;
    CHECK(inferd_onnx_run(m, &in, 1, out, 4, &err) == 0);
    CHECK(n_allocs > 0);
    n_allocs = 0;
    for (int r = 0; r < 50; r++)
        CHECK(inferd_onnx_run(m, &in, 1, out, 4, &err) == 0);
    counting = 0;
    printf("%s: %ld allocations in 50 runs\n", what, n_allocs);
    CHECK(n_allocs == 0);
    __libc_free(x);
    inferd_onnx_free(m);
}

int main(void)
{
    if (getenv("INFERD_SANITIZED"))
        check_skip("sanitizer builds replace malloc");
    const char *root = getenv("INFERD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/unit/onnx/data/tiny_mlp.onnx", root ? root : ".");
    runs(path, 3, (int64_t[]){1, 3, 4}, "tiny_mlp batch 1");
    runs(path, 3, (int64_t[]){3, 3, 4}, "tiny_mlp batch 3");
    runs(path, 3, (int64_t[]){8, 3, 4}, "tiny_mlp batch 8");
    snprintf(path, sizeof path, "%s/node_modules/openwakeword-js/models/hello_deepa.onnx", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        runs(path, 3, (int64_t[]){1, 25, 96}, "hello_deepa");
    }
    return check_finish();
}
