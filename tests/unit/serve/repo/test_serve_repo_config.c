/* test_serve_repo_config.c — config.json parsing, sha256 and manifest verification, and
 * API key files. */
#include "check.h"

#include "serve/http/auth.h"
#include "serve/repo/repo_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    fputs(s, f);
    fclose(f);
}

static void test_config(void)
{
    struct model_config c;
    struct inferd_err err = {0};
    CHECK(model_config_parse(NULL, 0, &c, &err) == 0 && c.policy == POLICY_LATEST && c.num_versions == 1);
    CHECK(json_is_object(c.json) && json_object_size(c.json) == 0);
    model_config_free(&c);
    const char *ok = "{\"max_batch_size\":8,\"max_queue_size\":5,\"dynamic_batching\":{\"preferred_batch_size\":[4,8],"
                     "\"max_queue_delay_microseconds\":100},\"version_policy\":{\"specific\":{\"versions\":[1,3]}}}";
    CHECK(model_config_parse(ok, strlen(ok), &c, &err) == 0);
    CHECK(c.sched.max_batch_size == 8 && c.sched.max_queue_size == 5 && c.sched.dynamic && c.sched.n_preferred == 2);
    CHECK(c.sched.max_queue_delay_us == 100 && c.policy == POLICY_SPECIFIC && c.n_versions == 2 && c.versions[1] == 3);
    model_config_free(&c);
    const char *all = "{\"version_policy\":{\"all\":{}}}";
    CHECK(model_config_parse(all, strlen(all), &c, &err) == 0 && c.policy == POLICY_ALL);
    model_config_free(&c);
    const char *latest = "{\"version_policy\":{\"latest\":{\"num_versions\":2}}}";
    CHECK(model_config_parse(latest, strlen(latest), &c, &err) == 0 && c.num_versions == 2);
    model_config_free(&c);
    /* a backend's own members: one validator each, errors naming the member */
    const char *llm = "{\"parallel\":3,\"temperature\":0.5,\"embeddings\":false,\"chat_template\":\"chatml\","
                      "\"top_k\":\"x\"}";
    CHECK(model_config_parse(llm, strlen(llm), &c, &err) == 0);
    int n = 4, b = 1, k = 0;
    float t = 1;
    char name[16] = "";
    CHECK(config_int(&c, "parallel", 1, 256, &n, &err) == 0 && n == 3);
    CHECK(config_int(&c, "absent", 1, 256, &n, &err) == 0 && n == 3);
    CHECK(config_float(&c, "temperature", 0, 2, &t, &err) == 0 && t == 0.5f);
    CHECK(config_bool(&c, "embeddings", &b, &err) == 0 && b == 0);
    CHECK(config_string(&c, "chat_template", name, sizeof name, &err) == 0 && strcmp(name, "chatml") == 0);
    CHECK(config_int(&c, "top_k", 0, 100, &k, &err) == INFERD_EINVAL && strstr(err.msg, "config.json: top_k"));
    CHECK(config_int(&c, "parallel", 4, 8, &n, &err) == INFERD_EINVAL && strstr(err.msg, "parallel") && n == 3);
    CHECK(config_string(&c, "chat_template", name, 4, &err) == INFERD_EINVAL);
    model_config_free(&c);
    const char *bad[] = {"{", "{\"max_batch_size\":-1}", "{\"dynamic_batching\":{}}",
                         "{\"max_batch_size\":2,\"dynamic_batching\":{\"preferred_batch_size\":[4]}}",
                         "{\"version_policy\":{\"newest\":{}}}", "{\"version_policy\":{\"specific\":{\"versions\":[]}}}",
                         "{\"backend\":7}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        CHECK(model_config_parse(bad[i], strlen(bad[i]), &c, &err) < 0 && strstr(err.msg, "config.json"));
    }
}

static void test_manifest(void)
{
    char dir[] = "/tmp/inferd-manifest-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char p[512], hex[65];
    struct inferd_err err = {0};
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    write_file(p, "abc");
    CHECK(sha256_file_hex(p, hex, &err) == 0);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    CHECK(manifest_verify(dir, "model.onnx", &err) == 0); /* no manifest: fine */
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    write_file(p, "{\"files\":{\"model.onnx\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}}");
    CHECK(manifest_verify(dir, "model.onnx", &err) == 0);
    write_file(p, "{\"files\":{\"model.onnx\":\"aa7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}}");
    CHECK(manifest_verify(dir, "model.onnx", &err) == INFERD_EFORMAT && strstr(err.msg, "sha256 mismatch"));
    write_file(p, "{\"files\":{\"other.bin\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}}");
    CHECK(manifest_verify(dir, "model.onnx", &err) == INFERD_EFORMAT && strstr(err.msg, "does not list"));
    write_file(p, "{\"files\":{\"model.onnx\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\","
                  "\"../x\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}}");
    CHECK(manifest_verify(dir, "model.onnx", &err) == INFERD_EFORMAT);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    unlink(p);
    rmdir(dir);
}

static void test_keys(void)
{
    char path[] = "/tmp/inferd-keys-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    write_file(path, "# comment\n\n  k-one \nk-two\n");
    struct keyring *k = NULL;
    struct inferd_err err = {0};
    CHECK(keyring_load(path, &k, &err) == 0);
    CHECK(keyring_check(k, "Bearer k-one", &err) == 0);
    CHECK(keyring_check(k, "bearer k-two", &err) == 0);
    CHECK(keyring_check(k, "Bearer k-on", &err) == INFERD_EAUTH);
    CHECK(keyring_check(k, "Bearer k-one2", &err) == INFERD_EAUTH);
    CHECK(keyring_check(k, "Basic k-one", &err) == INFERD_EAUTH);
    CHECK(keyring_check(k, NULL, &err) == INFERD_EAUTH && strstr(err.msg, "missing"));
    keyring_free(k);
    write_file(path, "# only a comment\n");
    CHECK(keyring_load(path, &k, &err) == INFERD_EINVAL);
    unlink(path);
}

int main(void)
{
    test_config();
    test_manifest();
    test_keys();
    return check_finish();
}
