/* test_discover_parse.c — the pure parts of the discovery sources: channel ids, etcd URLs,
 * etcd range answers, base64, advertised ids, sorting. */
#include "check.h"

#include "gateway/discover_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_id(void)
{
    char id[DISCOVER_ID_MAX + 1], id2[DISCOVER_ID_MAX + 1];
    discover_id(id, "dns-", "a.b-10.0.0.1-80");
    CHECK(strcmp(id, "dns-a.b-10.0.0.1-80") == 0);
    discover_id(id, "dns-", "x y/z-::1-80");
    CHECK(strcmp(id, "dns-x_y_z-::1-80") == 0);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    discover_id(id, "dns-", longname);
    CHECK(strlen(id) == DISCOVER_ID_MAX);
    longname[150] = 'b'; /* differs after the kept part: the hash tells them apart */
    discover_id(id2, "dns-", longname);
    CHECK(strlen(id2) == DISCOVER_ID_MAX && strcmp(id, id2) != 0 && strncmp(id, id2, 47) == 0);
    memset(longname, 'c', 60);
    longname[60] = '\0';
    discover_id(id, "dns-", longname); /* exactly 64: kept as is */
    CHECK(strlen(id) == 64 && id[63] == 'c');
}

static void test_url(void)
{
    char ep[DISCOVER_ENDPOINT_MAX], px[DISCOVER_PREFIX_MAX];
    struct inferd_err err = {0};
    CHECK(discover_etcd_url("etcd://127.0.0.1:2379/inferd/servers/", ep, px, &err) == 0);
    CHECK(strcmp(ep, "http://127.0.0.1:2379") == 0 && strcmp(px, "inferd/servers") == 0);
    CHECK(discover_etcd_url("etcd://[::1]:2379/p", ep, px, &err) == 0 && strcmp(ep, "http://[::1]:2379") == 0);
    CHECK(discover_etcd_url("http://127.0.0.1:2379/p", ep, px, &err) == INFERD_EINVAL);
    CHECK(discover_etcd_url("etcd://127.0.0.1:2379", ep, px, &err) == INFERD_EINVAL);
    CHECK(discover_etcd_url("etcd://127.0.0.1:2379///", ep, px, &err) == INFERD_EINVAL);
    CHECK(discover_etcd_url("etcd://a b:1/p", ep, px, &err) == INFERD_EINVAL && strstr(err.msg, "HOST:PORT"));
}

static void test_advertise_id(void)
{
    char id[DISCOVER_ID_MAX + 1];
    discover_advertise_id(id, "http://127.0.0.1:8080");
    CHECK(strcmp(id, "127.0.0.1_8080") == 0);
    discover_advertise_id(id, "http://[::1]:9/");
    CHECK(strcmp(id, "::1_9") == 0);
    discover_advertise_id(id, "https://models.example/v1");
    CHECK(strcmp(id, "models.example_443_v1") == 0);
    discover_advertise_id(id, "http://h");
    CHECK(strcmp(id, "h_80") == 0);
}

static char *b64(const char *s)
{
    char *o = NULL;
    CHECK(discover_b64_encode(s, strlen(s), &o) == 0);
    return o;
}

static void test_etcd_defs(void)
{
    struct inferd_err err = {0};
    json_t *defs = NULL;
    int skipped = -1;
    char *k1 = b64("inferd/127.0.0.1_1"), *v1 = b64("{\"id\":\"x1\",\"base_url\":\"http://127.0.0.1:1\"}");
    char *k2 = b64("inferd/srv-two"), *v2 = b64("{\"base_url\":\"http://127.0.0.1:2\"}");
    char *v3 = b64("[1,2]");
    char body[2048];
    snprintf(body, sizeof body,
             "{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"7\"},"
             "{\"key\":\"%s\",\"value\":\"%s\"},{\"key\":\"%s\",\"value\":\"%s\"},{\"key\":\"!!\",\"value\":\"%s\"}],"
             "\"count\":\"4\"}",
             k1, v1, k2, v2, k2, v3, v1);
    CHECK(discover_etcd_defs(body, strlen(body), &defs, &skipped, &err) == 0);
    CHECK(json_array_size(defs) == 2 && skipped == 2);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(defs, 0), "id")), "x1") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(defs, 1), "id")), "srv-two") == 0);
    json_decref(defs);
    /* Nothing under the prefix: no "kvs". */
    const char *empty = "{\"header\":{\"revision\":\"3\"}}";
    CHECK(discover_etcd_defs(empty, strlen(empty), &defs, NULL, &err) == 0 && json_array_size(defs) == 0);
    json_decref(defs);
    const char *e = "{\"error\":\"x\",\"message\":\"etcdserver: too many requests\",\"code\":8}";
    CHECK(discover_etcd_defs(e, strlen(e), &defs, NULL, &err) == INFERD_EFORMAT && strstr(err.msg, "too many"));
    CHECK(discover_etcd_defs("{\"kvs\":3}", 9, &defs, NULL, &err) == INFERD_EFORMAT);
    CHECK(discover_etcd_defs("nope", 4, &defs, NULL, &err) == INFERD_EFORMAT);
    char *dec = NULL;
    size_t n = 0;
    CHECK(discover_b64_decode(v2, strlen(v2), &dec, &n) == 0 && n == strlen(dec) && strstr(dec, "127.0.0.1:2"));
    free(dec);
    CHECK(discover_b64_decode("@@@", 3, &dec, &n) == INFERD_EFORMAT);
    free(k1), free(v1), free(k2), free(v2), free(v3);
}

static void test_sort(void)
{
    json_t *d = json_pack("[{s:s},{s:s},{s:s},{s:s}]", "id", "b", "id", "a", "id", "b", "id", "c");
    discover_defs_sort_unique(d);
    CHECK(json_array_size(d) == 3);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(d, 0), "id")), "a") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(d, 2), "id")), "c") == 0);
    json_decref(d);
    json_t *def = discover_def("i", "n", "::1", 8, NULL, "dns");
    CHECK(strcmp(json_string_value(json_object_get(def, "base_url")), "http://[::1]:8") == 0);
    CHECK(strcmp(json_string_value(json_object_get(def, "protocol")), "inferd") == 0);
    json_decref(def);
}

int main(void)
{
    test_id();
    test_url();
    test_advertise_id();
    test_etcd_defs();
    test_sort();
    return check_finish();
}
