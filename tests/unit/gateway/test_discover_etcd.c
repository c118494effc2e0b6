/* test_discover_etcd.c — the etcd source (gw_etcd_*) and registration (etcd_register_*)
 * against a real etcd on 127.0.0.1: registrations appear in the watched set with their ids,
 * a value without "id" gets its key's last segment, a value that is not JSON is skipped, a
 * stopped registration leaves the set at once, while etcd is down no set is reported (the
 * last one stays), and after etcd comes back the registration that lost its lease puts its
 * key again. Skips (77) when etcd is not installed. */
#include "check.h"

#include "gateway/discover.h"
#include "gateway/discover_parse.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "inferd/unit"
#define WAIT_MS 20000

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *last;
    int calls;
    char source[128];
} seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, ""};

static void on_sync(void *ctx, const char *source, json_t *defs)
{
    (void)ctx;
    pthread_mutex_lock(&seen.mu);
    json_decref(seen.last);
    seen.last = json_deep_copy(defs);
    seen.calls++;
    snprintf(seen.source, sizeof seen.source, "%s", source);
    pthread_cond_broadcast(&seen.cv);
    pthread_mutex_unlock(&seen.mu);
}

/* "id=base_url id=base_url ..." of the last set (in id order). */
static void ids_of(char *buf, size_t cap)
{
    size_t k;
    json_t *d;
    buf[0] = '\0';
    json_array_foreach(seen.last, k, d)
    {
        char one[256];
        snprintf(one, sizeof one, "%s%s=%s", buf[0] ? " " : "", json_string_value(json_object_get(d, "id")),
                 json_string_value(json_object_get(d, "base_url")));
        strncat(buf, one, cap - strlen(buf) - 1);
    }
}

/* Waits until a report after the first min_calls has exactly the set want. */
static int wait_set_after(int min_calls, const char *want)
{
    struct timespec until;
    char got[2048];
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    int ok = 0;
    pthread_mutex_lock(&seen.mu);
    for (;;) {
        ids_of(got, sizeof got);
        ok = seen.last && seen.calls > min_calls && strcmp(got, want) == 0;
        if (ok || pthread_cond_timedwait(&seen.cv, &seen.mu, &until) == ETIMEDOUT)
            break;
    }
    if (!ok)
        fprintf(stderr, "  set is [%s], want [%s]\n", got, want);
    pthread_mutex_unlock(&seen.mu);
    return ok;
}

static int wait_set(const char *want)
{
    return wait_set_after(0, want);
}

static char dir[] = "/tmp/inferd-etcd-XXXXXX";
static int cport, pport;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &n) < 0) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t etcd_start(void)
{
    char curl[64], purl[64], cluster[80], data[300], log[300];
    snprintf(curl, sizeof curl, "http://127.0.0.1:%d", cport);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", pport);
    snprintf(cluster, sizeof cluster, "t=%s", purl);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(log, sizeof log, "%s/etcd.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that crashed */
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        char *argv[] = {"etcd", "--name", "t", "--data-dir", data, "--listen-client-urls", curl,
                        "--advertise-client-urls", curl, "--listen-peer-urls", purl,
                        "--initial-advertise-peer-urls", purl, "--initial-cluster", cluster, NULL};
        execvp("etcd", argv);
        _exit(127);
    }
    return pid;
}

static void etcd_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* PUTs key=value (raw strings) with etcd's JSON gateway. Returns 0 on HTTP 200. */
static int raw_put(const char *key, const char *value)
{
    char *k = NULL, *v = NULL, body[1024], url[128];
    long status = 0;
    discover_b64_encode(key, strlen(key), &k);
    discover_b64_encode(value, strlen(value), &v);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k, v);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v3/kv/put", cport);
    CURL *h = curl_easy_init();
    FILE *null = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, null);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    int rc = curl_easy_perform(h) == CURLE_OK ? 0 : -1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    fclose(null);
    free(k);
    free(v);
    return rc == 0 && status == 200 ? 0 : -1;
}

int main(void)
{
    if (system("command -v etcd >/dev/null 2>&1") != 0)
        check_skip("etcd is not installed (apt-get install etcd-server)");
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    cport = free_port();
    pport = free_port();
    pid_t pid = etcd_start();
    char url[128];
    snprintf(url, sizeof url, "etcd://127.0.0.1:%d/" PREFIX, cport);
    struct inferd_err err = {0};
    struct gw_etcd *w = NULL, *bad = NULL;
    struct etcd_register *r1 = NULL, *r2 = NULL, *rbad = NULL;

    CHECK(gw_etcd_start("http://127.0.0.1:1/x", on_sync, NULL, &bad, &err) == INFERD_EINVAL && !bad);
    CHECK(etcd_register_start(url, "http://127.0.0.1:1", 0, &rbad, &err) == INFERD_EINVAL && !rbad);
    CHECK(etcd_register_start(url, "ftp://x", 5, &rbad, &err) == INFERD_EINVAL && !rbad);

    CHECK(gw_etcd_start(url, on_sync, NULL, &w, &err) == 0);
    CHECK(wait_set("")); /* etcd is up (the first list answered) and the prefix is empty */
    CHECK(strcmp(seen.source, "etcd:" PREFIX) == 0);

    CHECK(etcd_register_start(url, "http://127.0.0.1:1", 5, &r1, &err) == 0);
    CHECK(etcd_register_start(url, "http://[::1]:2", 5, &r2, &err) == 0);
    CHECK(wait_set("127.0.0.1_1=http://127.0.0.1:1 ::1_2=http://[::1]:2"));
    CHECK(raw_put(PREFIX "/manual", "{\"base_url\":\"http://h:3\",\"protocol\":\"openai\"}") == 0);
    CHECK(raw_put(PREFIX "/junk", "not json") == 0);
    CHECK(raw_put(PREFIX "x/outside", "{\"base_url\":\"http://out:4\"}") == 0); /* not under PREFIX/ */
    CHECK(wait_set("127.0.0.1_1=http://127.0.0.1:1 ::1_2=http://[::1]:2 manual=http://h:3"));

    /* A stopped registration revokes its lease: gone from the next listing. */
    etcd_register_stop(r1);
    CHECK(wait_set("::1_2=http://[::1]:2 manual=http://h:3"));

    /* etcd down: no set reported, the last one stays. */
    etcd_stop(pid);
    pthread_mutex_lock(&seen.mu);
    int calls = seen.calls;
    pthread_mutex_unlock(&seen.mu);
    usleep(1500 * 1000);
    pthread_mutex_lock(&seen.mu);
    CHECK(seen.calls <= calls + 1); /* a listing may have been in flight */
    pthread_mutex_unlock(&seen.mu);

    /* etcd back (same data): the listings resume; r2 still (or again) registered. */
    pthread_mutex_lock(&seen.mu);
    calls = seen.calls;
    pthread_mutex_unlock(&seen.mu);
    pid = etcd_start();
    CHECK(wait_set_after(calls, "::1_2=http://[::1]:2 manual=http://h:3"));

    etcd_register_stop(r2);
    CHECK(wait_set("manual=http://h:3"));
    gw_etcd_stop(w);
    gw_etcd_stop(NULL);
    etcd_register_stop(NULL);
    etcd_stop(pid);
    json_decref(seen.last);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    curl_global_cleanup();
    return check_finish();
}
