/* test_path.c — path_join/path_copy: join rules, the exact fit, refusal past the cap. */
#include "base/path.h"
#include "check.h"

#include <string.h>

int main(void)
{
    char out[16];
    struct inferd_err err = {0};

    CHECK(path_join(out, sizeof out, "models", "a", &err) == 0 && strcmp(out, "models/a") == 0);
    CHECK(path_join(out, sizeof out, "models/", "a", &err) == 0 && strcmp(out, "models/a") == 0);
    CHECK(path_join(out, sizeof out, "", "a", &err) == 0 && strcmp(out, "a") == 0);
    CHECK(path_join(out, sizeof out, "/", "etc", &err) == 0 && strcmp(out, "/etc") == 0);

    /* exactly fits: 15 chars + NUL */
    CHECK(path_join(out, sizeof out, "0123456", "89abcde", &err) == 0 && strcmp(out, "0123456/89abcde") == 0);
    /* one byte over: refused, out emptied, message names the path and the cap */
    memset(&err, 0, sizeof err);
    CHECK(path_join(out, sizeof out, "0123456", "89abcdef", &err) == INFERD_ETOOLARGE);
    CHECK(out[0] == '\0');
    CHECK(err.code == INFERD_ETOOLARGE && strstr(err.msg, "0123456/89abcdef") && strstr(err.msg, "15 bytes"));
    CHECK(path_join(out, 0, "a", "b", NULL) == INFERD_ETOOLARGE);

    CHECK(path_copy(out, sizeof out, "0123456789abcde", &err) == 0 && strcmp(out, "0123456789abcde") == 0);
    CHECK(path_copy(out, sizeof out, "0123456789abcdef", &err) == INFERD_ETOOLARGE && out[0] == '\0');

    /* a real-sized path: PATH_MAX_LEN - 1 bytes fit, one more does not */
    static char big[PATH_MAX_LEN + 8], dst[PATH_MAX_LEN];
    memset(big, 'x', PATH_MAX_LEN - 3);
    big[PATH_MAX_LEN - 3] = '\0';
    CHECK(path_join(dst, sizeof dst, big, "y", &err) == 0 && strlen(dst) == PATH_MAX_LEN - 1);
    CHECK(path_join(dst, sizeof dst, big, "yz", &err) == INFERD_ETOOLARGE);
    return check_finish();
}
