/* err.c — filling in struct inferd_err. */
#include "inferd/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int inferd_err_set(struct inferd_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void inferd_err_prefix(struct inferd_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[INFERD_ERR_MSG_MAX];
    char old[INFERD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n + 2 >= sizeof err->msg)
        n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    err->msg[n] = ':';
    err->msg[n + 1] = ' ';
    size_t room = sizeof err->msg - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
}

const char *inferd_err_name(int code)
{
    switch (code) {
    case INFERD_OK: return "OK";
    case INFERD_EINVAL: return "EINVAL";
    case INFERD_ENOMEM: return "ENOMEM";
    case INFERD_EIO: return "EIO";
    case INFERD_ENOTFOUND: return "ENOTFOUND";
    case INFERD_EUNSUPPORTED: return "EUNSUPPORTED";
    case INFERD_ETOOLARGE: return "ETOOLARGE";
    case INFERD_EBUSY: return "EBUSY";
    case INFERD_ETIMEDOUT: return "ETIMEDOUT";
    case INFERD_ECANCELED: return "ECANCELED";
    case INFERD_ESHAPE: return "ESHAPE";
    case INFERD_ETYPE: return "ETYPE";
    case INFERD_EFORMAT: return "EFORMAT";
    case INFERD_EUNAVAIL: return "EUNAVAIL";
    case INFERD_EAUTH: return "EAUTH";
    default: return "EUNKNOWN";
    }
}
