/* report.h — what the gateway tells people about its channels: the evaluation report
 * (GET /api/report as JSON, GET /report as an HTML page with inline SVG charts drawn by the
 * server) and demand mining (which requested models no channel serves, which models'
 * demand outruns their channels, at which hours, and what to do about it).
 *
 *   sqlite3 *db = gw_store_reader_lock(st);
 *   json_t *rep = gw_report_build(db, live, now_ms, 3600, &err);
 *   gw_store_reader_unlock(st);
 *   struct buf html; buf_init(&html, 8u << 20); gw_report_html(rep, &html, &err);
 *
 * live: the gateway's snapshot of its channels (gw_channels_snapshot): an array of
 *   {"id","name","base_url","protocol","source","state","score","availability","quality",
 *    "latency_ms":{"ewma","p50","p95","p99"},"ttft_ms","tokens_per_s","outstanding",
 *    "requests","errors","ejections","models":[...],"rollout","reason"}
 *   state: "healthy" | "ejected" | "half_open" | "candidate" | "bad_quality" | "disabled"
 *
 * Report JSON:
 *   {"generated_ms","window_s",
 *    "channels":[{...the live members..., "error_ratio", "recommendation": "keep" |
 *                 "investigate: <why>" | "remove: <why>" | "admit" ,
 *                 "window_requests","window_errors","down_share",
 *                 "history":[{"ts_ms","score","p95","errors","requests","state"}...]}],
 *    "demand":{"unserved":[{"model","requests"}], "saturated":[{"model","requests",
 *              "busy_share","channels","peak_hour","peak_busy_share","peak_requests",
 *              "add_channels"}], "by_hour":[{"hour","requests"}x24],
 *              "recommendations":["add a channel for \"x\" (N requests found none)",
 *                                 "raise capacity of \"y\" by N channel(s) ..."]}}
 *
 * Window: rows with now_ms - window_s*1000 < ts_ms <= now_ms. Per channel:
 *   error_ratio = requests rows with error != '' / its rows (live errors/requests if none);
 *   down_share  = failed "live"/"ready" probes / all of them (else ejected samples / all
 *                 samples; null with neither);
 *   history     = its samples in 120 equal spans: mean score, max p95, mean errors and
 *                 requests per sample, last state, at the span's last sample's time.
 * Recommendation, the first that applies (error ratio judged from 10 requests, down share
 * from 3 probes; quality is a number in [0,1] or a string, "bad..." counting as 0):
 *   disabled -> keep; candidate: bad quality -> remove, down >= 5% -> remove,
 *   quality >= 0.999 and availability >= 0.99 -> admit, else investigate;
 *   down >= 95% -> remove; bad quality (state bad_quality or quality < 0.5) -> remove;
 *   error ratio >= 50% -> remove; >= 5% -> investigate; quality < 0.99 -> investigate;
 *   down >= 20% -> investigate; ejected/half_open -> investigate;
 *   p95 >= 3x the median p95 of the other channels and >= 10 ms above it -> investigate;
 *   else keep.
 * Demand: unserved = error 'no_channel' rows per model. Saturated: a model with >= 20 rows
 * (not no_channel) whose busy share b_w = busy rows / rows, or b_p, the same in its peak hour
 * (the UTC hour of day with most rows), is >= 5%; with c its channels (live ones not
 * disabled that list it, else distinct channel_ids in its rows), add
 * N = max(1, ceil(c * b / (1 - b))), b = min(max(b_w, b_p), 0.9): c channels served the
 * (1 - b) they did not turn away, so all of it takes c / (1 - b). docs/gateway.md has more.
 */
#ifndef INFERD_GATEWAY_REPORT_H
#define INFERD_GATEWAY_REPORT_H

#include "base/buf.h"
#include "inferd/err.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

/* Builds the report from the live snapshot (borrowed) and the history in db (requests,
 * probes, samples tables of store.h) over the last window_s seconds. Returns a new
 * object (caller decrefs) or NULL with err set. */
json_t *gw_report_build(sqlite3 *db, const json_t *live, int64_t now_ms, int64_t window_s,
                        struct inferd_err *err);
/* The "demand" member alone. */
json_t *gw_demand_build(sqlite3 *db, const json_t *live, int64_t now_ms, int64_t window_s,
                        struct inferd_err *err);
/* Renders a report as one self-contained HTML page (no script, no external resource):
 * a table per channel and SVG line charts of score, p95 latency and errors over time.
 * Appends to out. Returns 0 or the buffer's error (ETOOLARGE/ENOMEM). */
int gw_report_html(const json_t *report, struct buf *out, struct inferd_err *err);

#endif
