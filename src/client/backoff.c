/* backoff.c — full-jitter backoff, Retry-After parsing, retryable statuses. */
#include "client/backoff.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double backoff_delay(double base, double cap, int retry, double u)
{
    if (!(base > 0) || !(cap > 0))
        return 0;
    if (retry < 0)
        retry = 0;
    if (retry > 60)
        retry = 60;
    double ceiling = base * ldexp(1.0, retry);
    if (ceiling > cap)
        ceiling = cap;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = nextafter(1.0, 0.0);
    return u * ceiling;
}

/* Parses s fully as an HTTP-date in one of the three formats RFC 9110 allows. */
static int parse_http_date(const char *s, time_t *out)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* obsolete RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* obsolete asctime */
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, formats[i], &tm);
        if (!end)
            continue;
        while (isspace((unsigned char)*end))
            end++;
        if (*end)
            continue;
        time_t t = timegm(&tm);
        if (t == (time_t)-1)
            continue;
        *out = t;
        return 0;
    }
    return -1;
}

int backoff_parse_retry_after(const char *value, time_t now, double *seconds)
{
    char buf[64];
    if (!value || !seconds)
        return -1;
    while (isspace((unsigned char)*value))
        value++;
    size_t n = strlen(value);
    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, value, n);
    buf[n] = '\0';
    if (isdigit((unsigned char)buf[0])) {
        size_t i = 0;
        while (isdigit((unsigned char)buf[i]))
            i++;
        if (buf[i] != '\0' || i > 9) /* delta-seconds: digits only; cap ~31 years */
            return -1;
        *seconds = strtod(buf, NULL);
        return 0;
    }
    time_t t;
    if (parse_http_date(buf, &t) < 0)
        return -1;
    *seconds = t > now ? difftime(t, now) : 0;
    return 0;
}

int backoff_status_retryable(int status)
{
    return status == 429 || (status >= 500 && status <= 599);
}

double backoff_retry_wait(double jitter, double retry_after_s, double cap, int has_deadline)
{
    double d = retry_after_s > jitter ? retry_after_s : jitter;
    if (!has_deadline) {
        double most = cap > BACKOFF_NO_DEADLINE_WAIT_MAX_S ? cap : BACKOFF_NO_DEADLINE_WAIT_MAX_S;
        if (!(d <= most)) /* NaN too */
            d = most;
    }
    return d;
}
