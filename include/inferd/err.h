/* err.h — inferd's error codes and the error struct every fallible call fills in.
 *
 * Every function that can fail returns 0 or a negative INFERD_E* code and, when the
 * caller passes a non-NULL `struct inferd_err *`, writes a human message naming the
 * field and the reason. Messages are for people; codes are for programs.
 *
 *   struct inferd_err err = {0};
 *   if (inferd_onnx_load("m.onnx", NULL, &m, &err) < 0)
 *       fprintf(stderr, "load failed: %s\n", err.msg);
 */
#ifndef INFERD_ERR_H
#define INFERD_ERR_H

#include <stddef.h>

enum inferd_errcode {
    INFERD_OK = 0,
    INFERD_EINVAL = -1,       /* bad argument or malformed input */
    INFERD_ENOMEM = -2,       /* allocation failed */
    INFERD_EIO = -3,          /* file or socket I/O failed */
    INFERD_ENOTFOUND = -4,    /* model, version, file, key... does not exist */
    INFERD_EUNSUPPORTED = -5, /* valid input we do not implement (op, dtype, version) */
    INFERD_ETOOLARGE = -6,    /* a configured cap was exceeded */
    INFERD_EBUSY = -7,        /* queue full / try again later */
    INFERD_ETIMEDOUT = -8,    /* deadline passed */
    INFERD_ECANCELED = -9,    /* caller went away */
    INFERD_ESHAPE = -10,      /* tensor shape mismatch */
    INFERD_ETYPE = -11,       /* tensor dtype mismatch */
    INFERD_EFORMAT = -12,     /* corrupt or truncated file format */
    INFERD_EUNAVAIL = -13,    /* not ready / unloading / upstream unreachable */
    INFERD_EAUTH = -14,       /* missing or wrong credentials */
};

#define INFERD_ERR_MSG_MAX 512

struct inferd_err {
    int code;                      /* last INFERD_E* code, 0 when none */
    char msg[INFERD_ERR_MSG_MAX];  /* NUL-terminated human message */
};

/* Records code and a printf-style message in err (which may be NULL).
 * Returns code, so callers can write `return inferd_err_set(err, INFERD_EINVAL, ...)`. */
int inferd_err_set(struct inferd_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "prefix: " (context while unwinding). */
void inferd_err_prefix(struct inferd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short stable name of a code ("EINVAL"), for logs and metrics labels. */
const char *inferd_err_name(int code);

#endif
