/* fuzz_http.c — libFuzzer driver for the whole HTTP front, end to end: raw request bytes go
 * over a loopback socket into a real server (serve_start: libmicrohttpd, route matching,
 * keys, limits, every protocol's routes, the schedulers), started once on port 0 with a
 * tiny model repository (a Relu ONNX model and a random-weight GGUF llama). Per input: the
 * bytes are written, the write side closed, and the answer read until the server closes
 * (or a short timeout). The input fails (abort) when the answer is a 5xx other than 503 (a
 * limit), 501 or 505 (a feature or HTTP version the server does not speak), or when a fresh
 * client's GET /v2/health/ready is not answered 200 afterwards.
 *
 * Seed corpus: tests/fuzz/corpus/http (valid requests of every route, chunked, pipelined).
 * The server is stopped at exit (atexit), so a run ends leak-free. */
#include "serve/serve.h"
#include "support/model_random.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define FUZZ_HTTP_READ_MS 100    /* how long one input's answer is read at most */
#define FUZZ_HTTP_HEALTH_MS 5000 /* a health answer slower than this fails the input */

/* y = Relu(x), x and y FLOAT [N, 4], opset 13 (ModelProto bytes, as tests/hostile/hostile.py
 * write_relu writes them). */
static const char relu_onnx[] = "\x08\x08\x3a\x40\x0a\x0c\x0a\x01\x78\x12\x01\x79\x22\x04\x52\x65\x6c\x75\x12\x04"
                                "\x72\x65\x6c\x75\x5a\x14\x0a\x01\x78\x12\x0f\x0a\x0d\x08\x01\x12\x09\x0a\x03\x12"
                                "\x01\x4e\x0a\x02\x08\x04\x62\x14\x0a\x01\x79\x12\x0f\x0a\x0d\x08\x01\x12\x09\x0a"
                                "\x03\x12\x01\x4e\x0a\x02\x08\x04\x42\x04\x0a\x00\x10\x0d";

static struct serve_server *server; /* started on the first input, stopped at exit */
static char repo_dir[64];

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void stop_server(void)
{
    serve_free(server);
    server = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", repo_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_http: could not remove %s\n", repo_dir);
}

/* Makes the repository (relu/1/model.onnx, llm/1/model.gguf + a small config.json) and
 * starts the server; exits the process when it cannot (nothing to fuzz then). */
static void start_server(void)
{
    struct inferd_err err = {0};
    char p[256];
    snprintf(repo_dir, sizeof repo_dir, "/tmp/fuzz_http.XXXXXX");
    if (!mkdtemp(repo_dir))
        goto fail;
    const char *dirs[] = {"relu", "relu/1", "llm", "llm/1"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", repo_dir, dirs[i]);
        if (mkdir(p, 0700) != 0)
            goto fail;
    }
    snprintf(p, sizeof p, "%s/relu/1/model.onnx", repo_dir);
    if (write_file(p, relu_onnx, sizeof relu_onnx - 1) < 0)
        goto fail;
    struct llm_random_spec spec = llm_random_spec_tiny();
    snprintf(p, sizeof p, "%s/llm/1/model.gguf", repo_dir);
    if (llm_random_model_write(p, &spec, &err) < 0)
        goto fail;
    /* a short context bounds every generation a fuzzed max_tokens can ask for */
    static const char cfg[] = "{\"context_size\": 128, \"parallel\": 2, \"max_queue_size\": 8}";
    snprintf(p, sizeof p, "%s/llm/config.json", repo_dir);
    if (write_file(p, cfg, sizeof cfg - 1) < 0)
        goto fail;
    struct serve_options o = serve_options_default();
    o.models_dir = repo_dir;
    o.port = 0;
    o.threads = 2;
    o.poll_ms = 0;
    o.conn_timeout_s = 1; /* a half-closed partial request is dropped after 1 s */
    o.error_log = "/dev/null";
    o.max_body_bytes = 1 << 20;
    if (serve_start(&o, &server, &err) < 0)
        goto fail;
    atexit(stop_server);
    return;
fail:
    fprintf(stderr, "fuzz_http: cannot start the server: %s\n", err.msg[0] ? err.msg : repo_dir);
    exit(1);
}

static int dial(int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)serve_port(server))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads into buf (cap bytes, NUL-terminated) until the peer closes, the socket's timeout,
 * or buf is full; what does not fit is read and dropped. Returns the bytes kept. */
static size_t read_answer(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    char sink[4096];
    for (;;) {
        ssize_t r = n + 1 < cap ? recv(fd, buf + n, cap - 1 - n, 0) : recv(fd, sink, sizeof sink, 0);
        if (r <= 0)
            break;
        if (n + 1 < cap)
            n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static void health_or_abort(void)
{
    static const char req[] = "GET /v2/health/ready HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n";
    char ans[512];
    int fd = dial(FUZZ_HTTP_HEALTH_MS);
    if (fd < 0 || send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        fprintf(stderr, "fuzz_http: the server no longer accepts a health request\n");
        abort();
    }
    read_answer(fd, ans, sizeof ans);
    close(fd);
    if (strncmp(ans, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "fuzz_http: health request answered '%.80s'\n", ans);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!server)
        start_server();
    int fd = dial(FUZZ_HTTP_READ_MS);
    if (fd < 0) {
        health_or_abort();
        return 0;
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server answered and closed, or stopped reading: fine */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char ans[4096];
    read_answer(fd, ans, sizeof ans);
    close(fd);
    /* garbage may get 4xx, 503 for a limit, 501/505 for what HTTP/1.1 servers may refuse;
     * another 5xx is a server bug */
    if (strncmp(ans, "HTTP/1.1 5", 10) == 0 && strncmp(ans, "HTTP/1.1 503", 12) != 0 &&
        strncmp(ans, "HTTP/1.1 501", 12) != 0 && strncmp(ans, "HTTP/1.1 505", 12) != 0) {
        fprintf(stderr, "fuzz_http: answered '%.200s'\n", ans);
        abort();
    }
    health_or_abort();
    return 0;
}
