/* TEMPORARY: stand-ins until the discovery branch merges. */
#include "gateway/discover.h"
int gw_dns_start(const struct gw_dns_opts *o, gw_sync_fn fn, void *ctx, struct gw_dns **out, struct inferd_err *err)
{ (void)o; (void)fn; (void)ctx; *out = NULL; return inferd_err_set(err, INFERD_EUNSUPPORTED, "dns: not yet"); }
void gw_dns_stop(struct gw_dns *d) { (void)d; }
int gw_etcd_start(const char *url, gw_sync_fn fn, void *ctx, struct gw_etcd **out, struct inferd_err *err)
{ (void)url; (void)fn; (void)ctx; *out = NULL; return inferd_err_set(err, INFERD_EUNSUPPORTED, "etcd: not yet"); }
void gw_etcd_stop(struct gw_etcd *e) { (void)e; }
