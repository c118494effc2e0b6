/* TEMPORARY: stand-ins until the discovery, report and eval branches merge. */
#include "gateway/discover.h"
#include "gateway/eval.h"
#include "gateway/report.h"
int gw_dns_start(const struct gw_dns_opts *o, gw_sync_fn fn, void *ctx, struct gw_dns **out, struct inferd_err *err)
{ (void)o; (void)fn; (void)ctx; *out = NULL; return inferd_err_set(err, INFERD_EUNSUPPORTED, "dns: not yet"); }
void gw_dns_stop(struct gw_dns *d) { (void)d; }
int gw_etcd_start(const char *url, gw_sync_fn fn, void *ctx, struct gw_etcd **out, struct inferd_err *err)
{ (void)url; (void)fn; (void)ctx; *out = NULL; return inferd_err_set(err, INFERD_EUNSUPPORTED, "etcd: not yet"); }
void gw_etcd_stop(struct gw_etcd *e) { (void)e; }
json_t *gw_report_build(sqlite3 *db, const json_t *live, int64_t now_ms, int64_t window_s, struct inferd_err *err)
{ (void)db; (void)now_ms; (void)window_s; (void)err; return json_pack("{s:O}", "channels", (json_t *)live); }
int gw_report_html(const json_t *report, struct buf *out, struct inferd_err *err)
{ (void)report; (void)err; buf_puts(out, "<html></html>"); return 0; }
json_t *gw_canary_v2_request(const json_t *meta, struct inferd_err *err) { (void)meta; (void)err; return NULL; }
json_t *gw_canary_chat_request(const char *model) { return json_pack("{s:s}", "model", model); }
json_t *gw_answer_key(const json_t *answer, struct inferd_err *err) { (void)err; json_t *o = json_object_get(answer, "outputs"); return o ? json_incref(o) : NULL; }
bool gw_answer_equal(const json_t *a, const json_t *b, double tol, char *why, size_t why_cap) { (void)tol; (void)why; (void)why_cap; return json_equal(a, b); }
