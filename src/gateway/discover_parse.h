/* discover_parse.h — the pure parts of the DNS and etcd discovery sources: what they read
 * from the outside (DNS answers, etcd's JSON) turned into channel definitions (discover.h).
 * No threads, no sockets, no globals: each function is fuzzed (tests/fuzz/fuzz_discover.c).
 *
 *   char id[DISCOVER_ID_MAX + 1];
 *   discover_id(id, "dns-", "models.local-10.0.0.1-8080");     // "dns-models.local-10.0.0.1-8080"
 *   json_t *defs = json_array();
 *   discover_dns_addrs(abuf, alen, DISCOVER_A, "models.local", 8080, "inferd", defs);
 *   discover_etcd_defs(body, len, "inferd", &defs2, &err);       // etcd /v3/kv/range answer
 *
 * etcd's JSON gateway, the parts used here (every int64 is a JSON string; keys and values are
 * standard base64):
 *
 *   POST /v3/kv/range     {"key":B64,"range_end":B64,"limit":N}
 *                         -> {"header":{..},"kvs":[{"key":B64,"value":B64,"lease":"ID",..}],"count":"N"}
 *                            ("kvs" absent when nothing matched)
 *   POST /v3/lease/grant  {"TTL":S}                   -> {"header":{..},"ID":"ID","TTL":"S"}
 *   POST /v3/kv/put       {"key":B64,"value":B64,"lease":"ID"} -> {"header":{..}}
 *   POST /v3/lease/keepalive {"ID":"ID"}  -> {"result":{"header":{..},"ID":"ID","TTL":"S"}}
 *                            (no "TTL" when the lease is gone)
 *   POST /v3/lease/revoke {"ID":"ID"}                 -> {"header":{..}}
 *   any error             -> {"error":"..","message":"..","code":N} (HTTP status >= 400)
 */
#ifndef INFERD_GATEWAY_DISCOVER_PARSE_H
#define INFERD_GATEWAY_DISCOVER_PARSE_H

#include "inferd/err.h"

#include <jansson.h>
#include <stddef.h>

#define DISCOVER_ID_MAX 64        /* a channel id's length cap (discover.h) */
#define DISCOVER_MAX_DEFS 4096    /* channels one source may report; more are dropped */
#define DISCOVER_SRV_MAX 256      /* SRV records of one answer that are followed */
#define DISCOVER_HOST_MAX 256     /* bytes of a DNS name, NUL included */
#define DISCOVER_PREFIX_MAX 512   /* bytes of an etcd key prefix, NUL included */
#define DISCOVER_ENDPOINT_MAX 300 /* bytes of "http://HOST:PORT", NUL included */

enum discover_rr { DISCOVER_A = 1, DISCOVER_AAAA = 28 };

/* One SRV record: its target name and port. */
struct discover_srv {
    char target[DISCOVER_HOST_MAX];
    int port;
};

/* Writes prefix + body to out (DISCOVER_ID_MAX + 1 bytes) with every byte outside
 * [A-Za-z0-9._:-] replaced by '_'. When longer than DISCOVER_ID_MAX, keeps the first 47
 * bytes and appends "-" and 16 hex digits of the FNV-1a hash of the whole unsanitised
 * text, so long names stay distinct. Never fails. */
void discover_id(char *out, const char *prefix, const char *body);

/* A channel definition {"id","name","base_url","protocol","tags":[tag]} for host:port (an
 * IPv6 address is put in brackets in base_url). Returns a new reference (caller owns it) or
 * NULL when out of memory. */
json_t *discover_def(const char *id, const char *name, const char *host, int port, const char *protocol,
                     const char *tag);

/* Appends to defs (a JSON array) one DNS channel per address in the A or AAAA answer
 * abuf[0..alen) (type says which): id "dns-<name>-<ip>-<port>", tags ["dns"]. Stops at
 * DISCOVER_MAX_DEFS entries in defs. Returns the number appended (0 for an answer without
 * addresses), or INFERD_EFORMAT for an answer that does not parse, INFERD_ENOMEM. */
int discover_dns_addrs(const unsigned char *abuf, int alen, enum discover_rr type, const char *name, int port,
                       const char *protocol, json_t *defs);

/* Parses the SRV answer abuf[0..alen) into out[0..max). OUT: *n records (those with a
 * target longer than DISCOVER_HOST_MAX - 1 or port 0 are skipped; past max are dropped).
 * Returns 0, INFERD_EFORMAT or INFERD_ENOMEM. */
int discover_dns_srv(const unsigned char *abuf, int alen, struct discover_srv *out, int max, int *n);

/* Sorts defs (an array of objects) by "id" and drops later duplicates of an id. */
void discover_defs_sort_unique(json_t *defs);

/* Splits "etcd://HOST:PORT/prefix" into endpoint "http://HOST:PORT" and prefix "prefix"
 * (the path without its leading '/' and trailing '/'s; not empty). Returns 0 or
 * INFERD_EINVAL naming what is wrong (err may be NULL). */
int discover_etcd_url(const char *url, char endpoint[DISCOVER_ENDPOINT_MAX], char prefix[DISCOVER_PREFIX_MAX],
                      struct inferd_err *err);

/* OUT: *out, a new JSON array (caller owns it): the channel definitions in an etcd
 * /v3/kv/range answer body[0..len). A value that is not a JSON object, or whose key or
 * value is not base64, is skipped and counted in *skipped (may be NULL); a value without
 * "id" gets the last '/'-separated segment of its key (sanitised by discover_id). At most
 * DISCOVER_MAX_DEFS entries. Returns 0, INFERD_EFORMAT when body is not a range answer (an
 * etcd error object included; err says which), or INFERD_ENOMEM. */
int discover_etcd_defs(const char *body, size_t len, json_t **out, int *skipped, struct inferd_err *err);

/* OUT: *out, malloc'd NUL-terminated standard base64 of p[0..n) (caller frees). Returns 0
 * or INFERD_ENOMEM. */
int discover_b64_encode(const void *p, size_t n, char **out);
/* OUT: *out (malloc'd, NUL-terminated for convenience, caller frees) and *n: the bytes that
 * the base64 text s encodes. Returns 0, INFERD_EFORMAT (not base64) or INFERD_ENOMEM. */
int discover_b64_decode(const char *s, size_t len, char **out, size_t *n);

/* The registration id of a server advertised as url: "HOST_PORT" (and "_path" when url
 * has one), sanitised by discover_id with an empty prefix. */
void discover_advertise_id(char *out, const char *url);

#endif
