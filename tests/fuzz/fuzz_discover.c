/* fuzz_discover.c — libFuzzer driver for what the discovery sources read from outside
 * (src/gateway/discover_parse.h). The first byte picks the parser, the rest is its input:
 *   0  an etcd /v3/kv/range answer -> channel definitions
 *   1  a DNS A answer, 2  a DNS AAAA answer -> channel definitions
 *   3  a DNS SRV answer -> targets
 *   4  an etcd:// URL and an --advertise URL -> endpoint, prefix, id
 * Invariants: every id discover_* writes is 1..64 bytes of [A-Za-z0-9._:-]; ETCD defs are
 * objects with an "id"; no crash, no leak. */
#include "gateway/discover_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > DISCOVER_ID_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == ':' || c == '-'))
            abort();
    }
}

static void check_dns_defs(const json_t *defs)
{
    size_t i;
    const json_t *d;
    json_array_foreach(defs, i, d)
    {
        check_id(json_string_value(json_object_get(d, "id")));
        if (!json_string_value(json_object_get(d, "base_url")))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 5) {
    case 0: {
        json_t *defs = NULL;
        int skipped = 0;
        if (discover_etcd_defs((const char *)p, n, &defs, &skipped, NULL) == 0) {
            size_t i;
            const json_t *d;
            if (!json_is_array(defs) || json_array_size(defs) > DISCOVER_MAX_DEFS)
                abort();
            json_array_foreach(defs, i, d)
            {
                if (!json_is_object(d) || !json_object_get(d, "id"))
                    abort();
            }
            discover_defs_sort_unique(defs);
            json_decref(defs);
        }
        break;
    }
    case 1:
    case 2: {
        json_t *defs = json_array();
        if (n > (size_t)INT32_MAX)
            n = INT32_MAX;
        discover_dns_addrs(p, (int)n, data[0] % 5 == 1 ? DISCOVER_A : DISCOVER_AAAA, "fuzz.example", 8080, NULL, defs);
        check_dns_defs(defs);
        json_decref(defs);
        break;
    }
    case 3: {
        struct discover_srv *srv = malloc(DISCOVER_SRV_MAX * sizeof *srv);
        int k = 0;
        if (srv && discover_dns_srv(p, (int)(n > (size_t)INT32_MAX ? INT32_MAX : n), srv, DISCOVER_SRV_MAX, &k) == 0) {
            char id[DISCOVER_ID_MAX + 1];
            for (int i = 0; i < k; i++) {
                if (srv[i].port < 1 || srv[i].port > 65535 || strlen(srv[i].target) >= DISCOVER_HOST_MAX)
                    abort();
                discover_id(id, "dns-", srv[i].target);
                check_id(id);
            }
        }
        free(srv);
        break;
    }
    default: {
        char s[1024], ep[DISCOVER_ENDPOINT_MAX], px[DISCOVER_PREFIX_MAX], id[DISCOVER_ID_MAX + 1];
        size_t k = n < sizeof s - 1 ? n : sizeof s - 1;
        memcpy(s, p, k);
        s[k] = '\0';
        if (discover_etcd_url(s, ep, px, NULL) == 0 && (!px[0] || strncmp(ep, "http://", 7) != 0))
            abort();
        if (s[0]) {
            discover_advertise_id(id, s);
            if (strlen(id) > DISCOVER_ID_MAX)
                abort();
        }
        break;
    }
    }
    return 0;
}
