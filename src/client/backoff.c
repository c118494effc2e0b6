/* backoff.c — full-jitter backoff, Retry-After parsing, retryable statuses. */
#include "client/backoff.h"

#include <ctype.h>
#include <curl/curl.h>
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

/* Has s the word shape of one of the three HTTP-date forms (RFC 9110 5.6.7)?
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"   6 words, "Sun," ... "GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"  4 words, "Sunday," ... "GMT"
 *   asctime      "Sun Nov  6 08:49:37 1994"        5 words, no comma, a 4-digit year last
 * curl_getdate parses the fields but ignores words after a complete date, so this check
 * is what refuses "… GMT junk". */
static int http_date_shape(const char *s)
{
    const char *word[8];
    size_t len[8];
    int n = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (n == 8)
            return 0;
        word[n] = p;
        while (*p && *p != ' ')
            p++;
        len[n] = (size_t)(p - word[n]);
        n++;
    }
    if (n < 4)
        return 0;
    const char *last = word[n - 1];
    int comma = word[0][len[0] - 1] == ',';
    if ((n == 6 || n == 4) && comma)
        return len[n - 1] == 3 && memcmp(last, "GMT", 3) == 0;
    if (n == 5 && !comma)
        return len[n - 1] == 4 && strspn(last, "0123456789") >= 4;
    return 0;
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
    /* An HTTP-date (IMF-fixdate, RFC 850 or asctime), parsed by libcurl (locale-independent,
     * unlike strptime's %a and %b). */
    if (!http_date_shape(buf))
        return -1;
    time_t t = curl_getdate(buf, NULL);
    if (t == (time_t)-1)
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
