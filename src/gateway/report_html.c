/* report_html.c — the report (report.h) as one self-contained HTML page: no script, no
 * external resource; a <style> block, tables, and line charts drawn as inline SVG here.
 * Every string from the report goes through html_write_escaped (base/html.h). */
#include "gateway/report.h"

#include "base/clock.h"
#include "base/html.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Chart geometry, in SVG user units (= CSS pixels):
 *
 *   0 +--------------------------------------+ 300
 *     | title                      max label |   y = 12
 *  20 |  +--------------------------------+  |   plot: x 44..292, y 20..92
 *     |  |            polyline            |  |
 *  92 |  +--------------------------------+  |
 *     |  start time                end time |   y = 108
 * 116 +--------------------------------------+
 */
#define CHART_W 300
#define CHART_H 116
#define PLOT_X0 44.0
#define PLOT_X1 292.0
#define PLOT_Y0 20.0
#define PLOT_Y1 92.0

static const char STYLE[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".keep{color:#176a17}.investigate{color:#9a6200}.remove{color:#b00020}.admit{color:#1b4fa0}"
    "section{margin:1.2em 0;border-top:1px solid #ddd}"
    "svg{margin:4px 12px 4px 0;background:#fafafa;border:1px solid #e4e4e4}"
    "svg text{font:10px sans-serif;fill:#555}svg .t{font-weight:bold;fill:#222}"
    "svg polyline{fill:none;stroke:#1b4fa0;stroke-width:1.5}svg .ax{stroke:#999}"
    "svg rect.bar{fill:#1b4fa0}small{color:#666}";

static double num(const json_t *o, const char *key, const char *sub, double def)
{
    const json_t *v = json_object_get(o, key);
    if (sub)
        v = json_object_get(v, sub);
    return json_is_number(v) ? json_number_value(v) : def;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* "HH:MM" (UTC) of a Unix ms time. */
static void hhmm(int64_t ms, char out[8])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 8, "--:--");
        return;
    }
    snprintf(out, 8, "%02d:%02d", tm.tm_hour % 24, tm.tm_min % 60);
}

/* A table cell with a number, "-" when absent; scale and unit for percentages and ms. */
static void td_num(struct buf *b, double v, const char *fmt)
{
    buf_puts(b, "<td class=\"n\">");
    if (isnan(v))
        buf_puts(b, "-");
    else
        buf_printf(b, fmt, v);
    buf_puts(b, "</td>");
}

static void td_text(struct buf *b, const char *s)
{
    buf_puts(b, "<td>");
    html_write_escaped(b, s);
    buf_puts(b, "</td>");
}

/* The recommendation in a span whose class is its first word (keep/investigate/...). */
static void rec_span(struct buf *b, const char *rec)
{
    size_t k = strcspn(rec, ": ");
    char cls[16];
    snprintf(cls, sizeof cls, "%.*s", (int)(k < sizeof cls ? k : sizeof cls - 1), rec);
    buf_puts(b, "<span class=\"");
    html_write_escaped(b, cls);
    buf_puts(b, "\">");
    html_write_escaped(b, rec);
    buf_puts(b, "</span>");
}

/* One line chart of history[*].field over time: title, y labels (0 and the max, with unit),
 * x labels (first and last time), axes, and a polyline (a dot for one point). */
static void chart(struct buf *b, const json_t *hist, const char *field, const char *title,
                  const char *unit)
{
    size_t n = json_array_size(hist), i;
    const json_t *p;
    double ymax = 0;
    int64_t t0 = 0, t1 = 0;
    json_array_foreach(hist, i, p)
    {
        double v = num(p, field, NULL, 0);
        int64_t ts = (int64_t)num(p, "ts_ms", NULL, 0);
        ymax = fmax(ymax, v);
        if (i == 0)
            t0 = ts;
        t1 = ts;
    }
    if (!(ymax > 0))
        ymax = 1;
    buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" role=\"img\"><title>",
               CHART_W, CHART_H, CHART_W, CHART_H);
    html_write_escaped(b, title);
    buf_puts(b, "</title><text class=\"t\" x=\"4\" y=\"12\">");
    html_write_escaped(b, title);
    buf_printf(b, "</text><line class=\"ax\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>"
                  "<line class=\"ax\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>",
               PLOT_X0, PLOT_Y0, PLOT_X0, PLOT_Y1, PLOT_X0, PLOT_Y1, PLOT_X1, PLOT_Y1);
    buf_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.3g%s</text>", PLOT_X0 - 3, PLOT_Y0 + 4,
               ymax, unit);
    buf_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">0%s</text>", PLOT_X0 - 3, PLOT_Y1, unit);
    if (n == 0) {
        buf_printf(b, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">no samples in the window</text>",
                   (PLOT_X0 + PLOT_X1) / 2, (PLOT_Y0 + PLOT_Y1) / 2);
    } else {
        char a[8], z[8];
        hhmm(t0, a);
        hhmm(t1, z);
        buf_printf(b, "<text x=\"%g\" y=\"108\">%s</text><text x=\"%g\" y=\"108\" "
                      "text-anchor=\"end\">%s UTC</text>",
                   PLOT_X0, a, PLOT_X1, z);
        double span = t1 > t0 ? (double)(t1 - t0) : 1;
        if (n == 1) {
            double y = fmax(0, num(json_array_get(hist, 0), field, NULL, 0));
            buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#1b4fa0\"/>",
                       (PLOT_X0 + PLOT_X1) / 2, PLOT_Y1 - (PLOT_Y1 - PLOT_Y0) * y / ymax);
        } else {
            buf_puts(b, "<polyline points=\"");
            json_array_foreach(hist, i, p)
            {
                double dt = (double)((int64_t)num(p, "ts_ms", NULL, 0) - t0);
                double x = PLOT_X0 + (PLOT_X1 - PLOT_X0) * dt / span;
                double y = PLOT_Y1 - (PLOT_Y1 - PLOT_Y0) * fmax(0, num(p, field, NULL, 0)) / ymax;
                buf_printf(b, "%s%.1f,%.1f", i ? " " : "", x, y);
            }
            buf_puts(b, "\"/>");
        }
    }
    buf_puts(b, "</svg>");
}

static void summary_table(struct buf *b, const json_t *chans)
{
    size_t i;
    const json_t *c;
    buf_puts(b, "<h2>Channels</h2><table><tr><th>channel</th><th>state</th><th>score</th>"
                "<th>availability</th><th>error ratio</th><th>p50</th><th>p95</th><th>p99</th>"
                "<th>quality</th><th>requests</th><th>recommendation</th></tr>");
    json_array_foreach(chans, i, c)
    {
        const json_t *q = json_object_get(c, "quality");
        buf_puts(b, "<tr><td>");
        html_write_escaped(b, str(c, "name")[0] ? str(c, "name") : str(c, "id"));
        buf_puts(b, "<br><small>");
        html_write_escaped(b, str(c, "base_url"));
        buf_puts(b, "</small></td>");
        td_text(b, str(c, "state"));
        td_num(b, num(c, "score", NULL, NAN), "%.2f");
        td_num(b, num(c, "availability", NULL, NAN) * 100, "%.1f%%");
        td_num(b, num(c, "error_ratio", NULL, NAN) * 100, "%.1f%%");
        td_num(b, num(c, "latency_ms", "p50", NAN), "%.1f ms");
        td_num(b, num(c, "latency_ms", "p95", NAN), "%.1f ms");
        td_num(b, num(c, "latency_ms", "p99", NAN), "%.1f ms");
        if (json_is_string(q))
            td_text(b, json_string_value(q));
        else
            td_num(b, json_is_number(q) ? json_number_value(q) : NAN, "%.2f");
        td_num(b, num(c, "window_requests", NULL, NAN), "%.0f");
        buf_puts(b, "<td>");
        rec_span(b, str(c, "recommendation"));
        buf_puts(b, "</td></tr>");
    }
    buf_puts(b, "</table>");
}

static void channel_sections(struct buf *b, const json_t *chans)
{
    size_t i;
    const json_t *c;
    json_array_foreach(chans, i, c)
    {
        const json_t *hist = json_object_get(c, "history");
        buf_puts(b, "<section><h3>");
        html_write_escaped(b, str(c, "name")[0] ? str(c, "name") : str(c, "id"));
        buf_puts(b, " <small>");
        html_write_escaped(b, str(c, "id"));
        buf_puts(b, " &middot; ");
        html_write_escaped(b, str(c, "protocol"));
        buf_puts(b, " &middot; ");
        html_write_escaped(b, str(c, "base_url"));
        buf_puts(b, "</small></h3><p>");
        rec_span(b, str(c, "recommendation"));
        if (str(c, "reason")[0]) {
            buf_puts(b, " <small>(");
            html_write_escaped(b, str(c, "reason"));
            buf_puts(b, ")</small>");
        }
        buf_puts(b, "</p><div>");
        chart(b, hist, "score", "score", "");
        chart(b, hist, "p95", "p95 latency (ms)", " ms");
        chart(b, hist, "errors", "errors per sample", "");
        buf_puts(b, "</div></section>");
    }
}

/* Requests by hour of day as 24 bars, labelled every 6 hours. */
static void hour_chart(struct buf *b, const json_t *by_hour)
{
    double max = 1, bw = (PLOT_X1 - PLOT_X0) / 24;
    size_t i;
    const json_t *h;
    json_array_foreach(by_hour, i, h)
    {
        max = fmax(max, num(h, "requests", NULL, 0));
    }
    buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" role=\"img\"><title>requests by hour (UTC)</title>"
                  "<text class=\"t\" x=\"4\" y=\"12\">requests by hour (UTC)</text>"
                  "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.0f</text>"
                  "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">0</text>"
                  "<line class=\"ax\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>",
               CHART_W, CHART_H, CHART_W, CHART_H, PLOT_X0 - 3, PLOT_Y0 + 4, max, PLOT_X0 - 3, PLOT_Y1,
               PLOT_X0, PLOT_Y1, PLOT_X1, PLOT_Y1);
    json_array_foreach(by_hour, i, h)
    {
        double v = num(h, "requests", NULL, 0), hgt = (PLOT_Y1 - PLOT_Y0) * v / max;
        int hour = (int)num(h, "hour", NULL, (double)i);
        buf_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                      "<title>%02d:00 %.0f</title></rect>",
                   PLOT_X0 + bw * hour + 1, PLOT_Y1 - hgt, bw - 2, hgt, hour % 100, v);
    }
    for (int hour = 0; hour < 24; hour += 6)
        buf_printf(b, "<text x=\"%.1f\" y=\"108\">%02d</text>", PLOT_X0 + bw * hour, hour);
    buf_puts(b, "</svg>");
}

static void demand_section(struct buf *b, const json_t *d)
{
    size_t i;
    const json_t *r;
    buf_puts(b, "<h2>Demand</h2>");
    const json_t *recs = json_object_get(d, "recommendations");
    if (json_array_size(recs) == 0)
        buf_puts(b, "<p>Every requested model found a channel with room to spare.</p>");
    else
        buf_puts(b, "<ul>");
    json_array_foreach(recs, i, r)
    {
        buf_puts(b, "<li>");
        html_write_escaped(b, json_string_value(r));
        buf_puts(b, "</li>");
    }
    if (json_array_size(recs))
        buf_puts(b, "</ul>");
    const json_t *un = json_object_get(d, "unserved");
    if (json_array_size(un)) {
        buf_puts(b, "<h3>Unserved models</h3><table><tr><th>model</th><th>requests</th></tr>");
        json_array_foreach(un, i, r)
        {
            buf_puts(b, "<tr>");
            td_text(b, str(r, "model"));
            td_num(b, num(r, "requests", NULL, NAN), "%.0f");
            buf_puts(b, "</tr>");
        }
        buf_puts(b, "</table>");
    }
    const json_t *sat = json_object_get(d, "saturated");
    if (json_array_size(sat)) {
        buf_puts(b, "<h3>Saturated models</h3><table><tr><th>model</th><th>requests</th>"
                    "<th>busy share</th><th>channels</th><th>peak hour (UTC)</th>"
                    "<th>add channels</th></tr>");
        json_array_foreach(sat, i, r)
        {
            buf_puts(b, "<tr>");
            td_text(b, str(r, "model"));
            td_num(b, num(r, "requests", NULL, NAN), "%.0f");
            td_num(b, num(r, "busy_share", NULL, NAN) * 100, "%.1f%%");
            td_num(b, num(r, "channels", NULL, NAN), "%.0f");
            td_num(b, num(r, "peak_hour", NULL, NAN), "%02.0f:00");
            td_num(b, num(r, "add_channels", NULL, NAN), "%.0f");
            buf_puts(b, "</tr>");
        }
        buf_puts(b, "</table>");
    }
    hour_chart(b, json_object_get(d, "by_hour"));
}

int gw_report_html(const json_t *report, struct buf *out, struct inferd_err *err)
{
    char when[40];
    int64_t window = (int64_t)num(report, "window_s", NULL, 0);
    if (!json_is_object(report))
        return inferd_err_set(err, INFERD_EINVAL, "report: not an object");
    clock_rfc3339((uint64_t)num(report, "generated_ms", NULL, 0), when, sizeof when);
    buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<title>inferd gateway report</title><style>");
    buf_puts(out, STYLE);
    buf_puts(out, "</style></head><body><h1>Gateway report</h1><p>Generated ");
    html_write_escaped(out, when);
    buf_printf(out, "; window %lld s (%.1f h).</p>", (long long)window, (double)window / 3600);
    summary_table(out, json_object_get(report, "channels"));
    channel_sections(out, json_object_get(report, "channels"));
    demand_section(out, json_object_get(report, "demand"));
    buf_puts(out, "</body></html>\n");
    return buf_err(out, err, "report page");
}
