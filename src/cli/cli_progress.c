/* cli_progress.c — progress of a long copy on stderr: a bar with bytes, rate and ETA
 * redrawn in place on a terminal, plain lines (every quarter) otherwise. */
#include "cli.h"

#include "base/clock.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void human(double b, char *out, size_t cap)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

void cli_progress_init(struct cli_progress *p, const char *what)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->tty = isatty(STDERR_FILENO);
    p->start_ns = (int64_t)clock_now_ns();
}

void cli_progress_cb(void *ctx, int64_t done, int64_t total)
{
    struct cli_progress *p = ctx;
    int64_t now = (int64_t)clock_now_ns();
    if (done < p->cur) { /* the next file or blob: the summary counts them all */
        p->base += p->cur;
        p->quarter = 0;
    }
    p->cur = done;
    double secs = (double)(now - p->start_ns) / 1e9;
    char d[32], t[32], r[32];
    p->done = p->base + done;
    if (p->tty) {
        if (done != total && now - p->last_ns < 100000000LL)
            return;
        p->last_ns = now;
        double frac = total > 0 ? (double)done / (double)total : 0;
        int fill = (int)(frac * 30);
        char bar[31];
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        double rate = secs > 0 ? (double)done / secs : 0;
        human((double)done, d, sizeof d);
        human((double)total, t, sizeof t);
        human(rate, r, sizeof r);
        double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
        fprintf(stderr, "\r%s [%s] %3.0f%% %s / %s  %s/s  ETA %.0fs   ", p->what, bar, frac * 100, d, t, r, eta);
        fflush(stderr);
        p->drawn = 1;
        return;
    }
    int quarter = total > 0 ? (int)(4 * done / total) : 0;
    if (quarter > p->quarter && done != total) {
        p->quarter = quarter;
        human((double)done, d, sizeof d);
        human((double)total, t, sizeof t);
        fprintf(stderr, "%s: %s of %s (%d%%)\n", p->what, d, t, quarter * 25);
    }
}

void cli_progress_end(struct cli_progress *p)
{
    double secs = (double)((int64_t)clock_now_ns() - p->start_ns) / 1e9;
    char d[32], r[32];
    human((double)p->done, d, sizeof d);
    human(secs > 0 ? (double)p->done / secs : 0, r, sizeof r);
    if (p->drawn)
        fprintf(stderr, "\n");
    fprintf(stderr, "%s: %s in %.1fs (%s/s)\n", p->what, d, secs, r);
}
