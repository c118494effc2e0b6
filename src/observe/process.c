/* process.c — the standard process_* metrics, refreshed from /proc at each exposition. */
#include "observe/families.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The collector's context: series owned by the registry; the struct itself is owned by the
 * registry too (handed over with metrics_add_owned_collector). */
struct process_metrics {
    struct metrics_series *cpu, *rss, *vsize, *fds, *max_fds, *start;
};

/* Fields of /proc/self/stat after the ")" that ends comm: state is field 3. */
static int read_stat(double *cpu_s, double *start_s_since_boot, double *vsize, double *rss)
{
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "re");
    if (!fp)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2; /* now at field 3 (state) */
    unsigned long long f[64] = {0};
    int k = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok && k < 64; tok = strtok_r(NULL, " ", &save))
        f[k++] = strtoull(tok, NULL, 10);
    if (k <= 24)
        return -1;
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tck <= 0 || page <= 0)
        return -1;
    /* utime + stime count whole clock ticks (10 ms), sampled: a process that used a few ms
     * can read 0. The process CPU clock is exact; the ticks are the fallback. */
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0)
        *cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    else
        *cpu_s = (double)(f[14] + f[15]) / (double)tck;
    *start_s_since_boot = (double)f[22] / (double)tck;
    *vsize = (double)f[23];
    *rss = (double)f[24] * (double)page;
    return 0;
}

static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *fp = fopen("/proc/stat", "re");
    if (!fp)
        return 0;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    fclose(fp);
    return bt;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double max_fds(void)
{
    char line[256];
    double v = 0;
    FILE *fp = fopen("/proc/self/limits", "re");
    if (!fp)
        return 0;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "Max open files", 14) == 0) {
            v = strtod(line + 14, NULL);
            break;
        }
    fclose(fp);
    return v;
}

static void collect(void *ctx)
{
    struct process_metrics *pm = ctx;
    double cpu, start, vsize, rss;
    if (read_stat(&cpu, &start, &vsize, &rss) == 0) {
        metrics_set(pm->cpu, cpu);
        metrics_set(pm->vsize, vsize);
        metrics_set(pm->rss, rss);
        metrics_set(pm->start, boot_time() + start);
    }
    metrics_set(pm->fds, open_fds());
    metrics_set(pm->max_fds, max_fds());
}

int metrics_process_register(struct metrics_registry *reg, struct inferd_err *err)
{
    struct metrics_family *f[6];
    int rc;
    if (access("/proc/self/stat", R_OK) != 0)
        return inferd_err_set(err, INFERD_EIO, "metrics: /proc/self/stat is not readable");
    rc = metrics_counter_new(reg, "process_cpu_seconds_total",
                             "Total user and system CPU time spent in seconds.", NULL, 0, &f[0],
                             err);
    if (rc == 0)
        rc = metrics_gauge_new(reg, "process_resident_memory_bytes",
                               "Resident memory size in bytes.", NULL, 0, &f[1], err);
    if (rc == 0)
        rc = metrics_gauge_new(reg, "process_virtual_memory_bytes",
                               "Virtual memory size in bytes.", NULL, 0, &f[2], err);
    if (rc == 0)
        rc = metrics_gauge_new(reg, "process_open_fds", "Number of open file descriptors.",
                               NULL, 0, &f[3], err);
    if (rc == 0)
        rc = metrics_gauge_new(reg, "process_max_fds",
                               "Maximum number of open file descriptors.", NULL, 0, &f[4], err);
    if (rc == 0)
        rc = metrics_gauge_new(reg, "process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds.", NULL, 0,
                               &f[5], err);
    if (rc < 0)
        return rc;
    struct process_metrics *pm = malloc(sizeof *pm);
    if (!pm)
        return inferd_err_set(err, INFERD_ENOMEM, "metrics: out of memory");
    pm->cpu = metrics_series_get(f[0], NULL);
    pm->rss = metrics_series_get(f[1], NULL);
    pm->vsize = metrics_series_get(f[2], NULL);
    pm->fds = metrics_series_get(f[3], NULL);
    pm->max_fds = metrics_series_get(f[4], NULL);
    pm->start = metrics_series_get(f[5], NULL);
    return metrics_add_owned_collector(reg, collect, pm, free, err);
}
