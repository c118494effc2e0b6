/* path.c — path_join/path_copy: fixed-buffer paths that are refused, never truncated. */
#include "base/path.h"

#include <string.h>

static int too_long(char *out, size_t cap, const char *a, const char *b, struct inferd_err *err)
{
    if (cap)
        out[0] = '\0';
    /* The message shows the path's start only: the whole path is what did not fit. */
    return inferd_err_set(err, INFERD_ETOOLARGE, "%.200s%s%.100s...: path longer than %zu bytes", a,
                          b ? "/" : "", b ? b : "", cap ? cap - 1 : 0);
}

int path_join(char *out, size_t cap, const char *a, const char *b, struct inferd_err *err)
{
    size_t na = strlen(a), nb = strlen(b);
    size_t sep = (na > 0 && a[na - 1] != '/') ? 1 : 0;
    if (na + sep + nb >= cap) /* also refuses cap == 0 */
        return too_long(out, cap, a, b, err);
    memcpy(out, a, na);
    if (sep)
        out[na] = '/';
    memcpy(out + na + sep, b, nb + 1);
    return 0;
}

int path_copy(char *out, size_t cap, const char *src, struct inferd_err *err)
{
    size_t n = strlen(src);
    if (n >= cap)
        return too_long(out, cap, src, NULL, err);
    memcpy(out, src, n + 1);
    return 0;
}
