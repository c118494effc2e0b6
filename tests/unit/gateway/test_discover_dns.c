/* test_discover_dns.c — the DNS discovery source against a real dnsmasq on 127.0.0.1:
 * SRV and A/AAAA names deliver the right channel definitions; after the records change
 * (conf rewritten, dnsmasq restarted) a removed one disappears and an added one appears;
 * while the resolver is down the last set is kept (no call); stop is prompt even with a
 * long interval. Skips (77) when dnsmasq is not installed. */
#include "check.h"

#include "gateway/discover.h"

#include <arpa/inet.h>
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

#define SRV_NAME "_inferd._tcp.test.local"
#define A_NAME "models.test.local"
#define WAIT_MS 15000

/* The last set each source reported, and how many reports there were. */
struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *last[3];
    int calls[3];
};
static struct seen seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, {0}};

static int slot_of(const char *source)
{
    if (strcmp(source, "dns:" SRV_NAME) == 0)
        return 0;
    if (strcmp(source, "dns:" A_NAME) == 0)
        return 1;
    return 2;
}

static void on_sync(void *ctx, const char *source, json_t *defs)
{
    (void)ctx;
    int i = slot_of(source);
    pthread_mutex_lock(&seen.mu);
    json_decref(seen.last[i]);
    seen.last[i] = json_deep_copy(defs);
    seen.calls[i]++;
    pthread_cond_broadcast(&seen.cv);
    pthread_mutex_unlock(&seen.mu);
}

/* The base_urls of slot i's last set, sorted, joined with ' ' (caller frees). */
static char *urls_of(int i)
{
    char buf[2048] = "";
    size_t k;
    json_t *d;
    json_array_foreach(seen.last[i], k, d)
    {
        if (buf[0])
            strncat(buf, " ", sizeof buf - strlen(buf) - 1);
        const char *u = json_string_value(json_object_get(d, "base_url"));
        strncat(buf, u ? u : "?", sizeof buf - strlen(buf) - 1);
    }
    return strdup(buf);
}

/* Waits until slot i's last set has exactly the base_urls want (in id order). */
static int wait_urls(int i, const char *want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    int ok = 0;
    pthread_mutex_lock(&seen.mu);
    for (;;) {
        char *got = seen.last[i] ? urls_of(i) : NULL;
        ok = got && strcmp(got, want) == 0;
        if (!ok && got)
            fprintf(stderr, "  slot %d has [%s], want [%s]\n", i, got, want);
        free(got);
        if (ok || pthread_cond_timedwait(&seen.cv, &seen.mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&seen.mu);
    return ok;
}

static char dir[] = "/tmp/inferd-dns-XXXXXX";
static char conf[256];
static int port;

static void write_conf(const char *text)
{
    FILE *f = fopen(conf, "w");
    if (!f) {
        perror(conf);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* A UDP port on 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &n) < 0) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts dnsmasq on port; returns its pid once it accepts TCP connections there. */
static pid_t dnsmasq_start(void)
{
    char a_port[32], a_conf[300], log[300];
    snprintf(a_port, sizeof a_port, "--port=%d", port);
    snprintf(a_conf, sizeof a_conf, "--conf-file=%s", conf);
    snprintf(log, sizeof log, "%s/dnsmasq.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that crashed */
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        char *argv[] = {"dnsmasq", "--no-daemon", "--keep-in-foreground", a_port, "--listen-address=127.0.0.1",
                        "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=",
                        geteuid() == 0 ? "--user=root" : "--no-negcache", a_conf, NULL};
        execvp("dnsmasq", argv);
        execv("/usr/sbin/dnsmasq", argv);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* up to 5 s */
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "dnsmasq exited (status %d); see %s\n", st, log);
            return -1;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return pid;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void dnsmasq_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static int have_dnsmasq(void)
{
    return access("/usr/sbin/dnsmasq", X_OK) == 0 || system("command -v dnsmasq >/dev/null 2>&1") == 0;
}

static const char conf1[] = "local=/test.local/\n"
                            "srv-host=" SRV_NAME ",srv1.test.local,8081\n"
                            "srv-host=" SRV_NAME ",srv2.test.local,8082\n"
                            "host-record=srv1.test.local,127.0.0.11\n"
                            "host-record=srv2.test.local,127.0.0.12,::12\n"
                            "host-record=" A_NAME ",10.0.0.1\n"
                            "host-record=" A_NAME ",10.0.0.2\n";
/* srv2 and the A name removed, srv3 added. */
static const char conf2[] = "local=/test.local/\n"
                            "srv-host=" SRV_NAME ",srv1.test.local,8081\n"
                            "srv-host=" SRV_NAME ",srv3.test.local,8083\n"
                            "host-record=srv1.test.local,127.0.0.11\n"
                            "host-record=srv3.test.local,127.0.0.13\n";

static void check_srv_def(void)
{
    pthread_mutex_lock(&seen.mu);
    json_t *d = json_array_get(seen.last[0], 0);
    CHECK(d && strcmp(json_string_value(json_object_get(d, "id")), "dns-srv1.test.local-127.0.0.11-8081") == 0);
    CHECK(d && strcmp(json_string_value(json_object_get(d, "name")), "srv1.test.local") == 0);
    CHECK(d && strcmp(json_string_value(json_object_get(d, "protocol")), "inferd") == 0);
    CHECK(d && strcmp(json_string_value(json_array_get(json_object_get(d, "tags"), 0)), "dns") == 0);
    json_t *a = json_array_get(seen.last[1], 0);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "id")), "dns-models.test.local-10.0.0.1-9000") == 0);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "protocol")), "openai") == 0);
    pthread_mutex_unlock(&seen.mu);
}

int main(void)
{
    if (!have_dnsmasq())
        check_skip("dnsmasq is not installed (apt-get install dnsmasq-base)");
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(conf, sizeof conf, "%s/dnsmasq.conf", dir);
    write_conf(conf1);
    pid_t pid = -1;
    for (int attempt = 0; attempt < 5 && pid < 0; attempt++) {
        port = free_port();
        pid = dnsmasq_start();
    }
    if (pid < 0) {
        fprintf(stderr, "FAIL: dnsmasq did not start\n");
        return 1;
    }
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", port);
    struct inferd_err err = {0};
    struct gw_dns *srv = NULL, *a = NULL, *slow = NULL;
    struct gw_dns_opts so = {.name = SRV_NAME, .server = server, .interval_ms = 200};
    struct gw_dns_opts ao = {.name = A_NAME, .server = server, .port = 9000, .protocol = "openai", .interval_ms = 200};
    struct gw_dns_opts lo = {.name = "srv1.test.local", .server = server, .port = 1, .interval_ms = 600000};
    CHECK(gw_dns_start(&so, on_sync, NULL, &srv, &err) == 0);
    CHECK(gw_dns_start(&ao, on_sync, NULL, &a, &err) == 0);
    CHECK(gw_dns_start(&lo, on_sync, NULL, &slow, &err) == 0);
    /* Bad options fail at start, with a message. */
    struct gw_dns *bad = NULL;
    struct gw_dns_opts bo = {.name = A_NAME, .server = "not a server", .port = 1};
    CHECK(gw_dns_start(&bo, on_sync, NULL, &bad, &err) == INFERD_EINVAL && bad == NULL && err.msg[0]);
    bo = (struct gw_dns_opts){.name = A_NAME};
    CHECK(gw_dns_start(&bo, on_sync, NULL, &bad, &err) == INFERD_EINVAL && bad == NULL);

    CHECK(wait_urls(0, "http://127.0.0.11:8081 http://127.0.0.12:8082 http://[::12]:8082"));
    CHECK(wait_urls(1, "http://10.0.0.1:9000 http://10.0.0.2:9000"));
    CHECK(wait_urls(2, "http://127.0.0.11:1"));
    check_srv_def();

    /* Resolver down: no call, the last set stays. */
    dnsmasq_stop(pid);
    pthread_mutex_lock(&seen.mu);
    int calls0 = seen.calls[0];
    pthread_mutex_unlock(&seen.mu);
    usleep(1200 * 1000); /* several intervals of failed resolutions */
    pthread_mutex_lock(&seen.mu);
    CHECK(seen.calls[0] <= calls0 + 1); /* one resolution may have finished as we stopped it */
    pthread_mutex_unlock(&seen.mu);
    CHECK(wait_urls(0, "http://127.0.0.11:8081 http://127.0.0.12:8082 http://[::12]:8082"));

    /* Records changed: srv2 removed, srv3 added, the A name gone (NXDOMAIN: empty set). */
    write_conf(conf2);
    pid = dnsmasq_start();
    CHECK(pid > 0);
    CHECK(wait_urls(0, "http://127.0.0.11:8081 http://127.0.0.13:8083"));
    CHECK(wait_urls(1, ""));
    pthread_mutex_lock(&seen.mu);
    CHECK(json_array_size(seen.last[1]) == 0);
    pthread_mutex_unlock(&seen.mu);

    /* Stop is prompt even with a 10-minute interval (a sleep would hang past the test's timeout). */
    gw_dns_stop(slow);
    gw_dns_stop(srv);
    gw_dns_stop(a);
    gw_dns_stop(NULL);
    if (pid > 0)
        dnsmasq_stop(pid);
    for (int i = 0; i < 3; i++)
        json_decref(seen.last[i]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_finish();
}
