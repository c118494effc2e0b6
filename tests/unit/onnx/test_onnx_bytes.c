/* test_onnx_bytes.c — STRING tensors through the ONNX engine: data/text_ops.onnx (made by
 * make_ops_extra.py) moves strings with Transpose, Concat, Gather and Reshape. Inputs and
 * outputs use the serialized BYTES form of inferd/tensor.h; malformed input is an error
 * naming the input; a second run with longer strings reuses and grows the buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "inferd/onnx.h"

/* Serializes n NUL-terminated strings into buf; returns the byte count. */
static size_t ser(unsigned char *buf, const char *const *s, int n)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        uint32_t len = (uint32_t)strlen(s[i]);
        buf[at] = (unsigned char)len, buf[at + 1] = (unsigned char)(len >> 8);
        buf[at + 2] = (unsigned char)(len >> 16), buf[at + 3] = (unsigned char)(len >> 24);
        memcpy(buf + at + 4, s[i], len);
        at += 4 + len;
    }
    return at;
}

static int run_case(struct inferd_onnx_model *m, const char *const *in, int64_t n, const char *const *want, int n_want)
{
    unsigned char buf[4096], exp[4096];
    struct inferd_tensor x = {.dtype = INFERD_BYTES, .rank = 2, .dims = {n, n}, .data = buf};
    x.nbytes = ser(buf, in, (int)(n * n));
    struct inferd_tensor out[1];
    struct inferd_err err = {0};
    int rc = inferd_onnx_run(m, &x, 1, out, 1, &err);
    if (rc < 0) {
        fprintf(stderr, "run: %s\n", err.msg);
        return -1;
    }
    size_t el = ser(exp, want, n_want);
    if (out[0].dtype != INFERD_BYTES || out[0].rank != 1 || out[0].dims[0] != n_want || out[0].nbytes != el ||
        memcmp(out[0].data, exp, el)) {
        fprintf(stderr, "output differs (%zu bytes, want %zu)\n", out[0].nbytes, el);
        return -1;
    }
    return 0;
}

int main(void)
{
    const char *root = getenv("INFERD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/unit/onnx/data/text_ops.onnx", root ? root : ".");
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load(path, NULL, &m, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    CHECK(rc == 0);
    if (rc < 0)
        return check_finish();
    CHECK(inferd_onnx_input(m, 0)->dtype == INFERD_BYTES);
    CHECK(inferd_onnx_output(m, 0)->dtype == INFERD_BYTES);
    /* text (2,2) -> [text; text^T] (4,2) -> column 1 -> flat */
    const char *in2[] = {"a", "bb", "ccc", "dddd"};
    const char *want2[] = {"bb", "dddd", "ccc", "dddd"};
    CHECK(run_case(m, in2, 2, want2, 4) == 0);
    /* bigger and longer: buffers grow, views stay right */
    const char *in3[] = {"", "zero-one", "0,2", "1,0 longer string here", "", "1,2", "2,0", "2,1 \xe6\x97\xa5", ""};
    const char *want3[] = {"zero-one", "", "2,1 \xe6\x97\xa5", "1,0 longer string here", "", "1,2"};
    CHECK(run_case(m, in3, 3, want3, 6) == 0);
    CHECK(run_case(m, in2, 2, want2, 4) == 0); /* the cached plan again */
    /* malformed: a length running past the data names the input */
    unsigned char bad[8] = {9, 0, 0, 0, 'x', 'y', 'z', 'w'};
    struct inferd_tensor x = {.dtype = INFERD_BYTES, .rank = 2, .dims = {1, 1}, .data = bad, .nbytes = sizeof bad};
    struct inferd_tensor out[1];
    rc = inferd_onnx_run(m, &x, 1, out, 1, &err);
    CHECK(rc == INFERD_EINVAL && strstr(err.msg, "'text'") && strstr(err.msg, "element 0"));
    /* too few strings for the shape */
    x.dims[0] = x.dims[1] = 2;
    x.nbytes = ser(bad, in2, 1);
    rc = inferd_onnx_run(m, &x, 1, out, 1, &err);
    CHECK(rc == INFERD_EINVAL && strstr(err.msg, "'text'"));
    inferd_onnx_free(m);
    return check_finish();
}
