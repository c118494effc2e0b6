/* test_buf.c — struct buf: growth, the cap (ETOOLARGE naming it), sticky failure, take/reset. */
#include "base/buf.h"

#include "../check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    struct buf b;
    buf_init(&b, 1000);
    CHECK(buf_rc(&b) == 0 && strcmp(buf_str(&b), "") == 0);
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "0123456789");
    CHECK(buf_rc(&b) == 0 && b.len == 1000 && b.data[1000] == '\0');
    CHECK(b.alloc <= 1001); /* never allocates more than the cap can use */
    /* one byte over the cap fails, and stays failed */
    buf_putc(&b, 'x');
    CHECK(buf_rc(&b) == INFERD_ETOOLARGE && buf_str(&b) == NULL);
    buf_put(&b, "", 0);
    buf_printf(&b, "%d", 1);
    CHECK(buf_rc(&b) == INFERD_ETOOLARGE);
    struct inferd_err err = {0};
    CHECK(buf_err(&b, &err, "reply") == INFERD_ETOOLARGE && err.code == INFERD_ETOOLARGE);
    CHECK(strcmp(err.msg, "reply: over its cap of 1000 bytes") == 0);
    CHECK(buf_take(&b, NULL) == NULL && b.data == NULL && b.len == 0);
    /* after take (even a failed one) the buffer is empty and usable with the same cap */
    buf_printf(&b, "%s=%d", "n", 42);
    size_t len = 0;
    char *s = buf_take(&b, &len);
    CHECK(s && strcmp(s, "n=42") == 0 && len == 4);
    free(s);
    /* printf longer than the small scratch */
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_printf(&b, "<%s>", big);
    CHECK(buf_rc(&b) == 0 && b.len == 601 && b.data[0] == '<' && b.data[600] == '>' && b.data[601] == '\0');
    /* reset clears the error and keeps the cap */
    buf_puts(&b, big);
    CHECK(buf_rc(&b) == INFERD_ETOOLARGE);
    buf_reset(&b);
    CHECK(buf_rc(&b) == 0 && b.len == 0 && b.max == 1000);
    buf_putc(&b, 'z');
    CHECK(strcmp(buf_str(&b), "z") == 0);
    /* truncate drops a piece that did not fit and clears the error */
    buf_puts(&b, "ab");
    buf_puts(&b, big);
    buf_puts(&b, big);
    CHECK(buf_rc(&b) == INFERD_ETOOLARGE);
    buf_truncate(&b, 1);
    CHECK(buf_rc(&b) == 0 && strcmp(buf_str(&b), "z") == 0);
    CHECK(buf_err(&b, &err, "x") == 0);
    buf_free(&b);
    buf_free(&b); /* twice is fine */
    /* an empty take gives "" */
    buf_init(&b, 0);
    s = buf_take(&b, &len);
    CHECK(s && s[0] == '\0' && len == 0);
    free(s);
    buf_putc(&b, 'a');
    CHECK(buf_rc(&b) == INFERD_ETOOLARGE);
    buf_free(&b);
    /* no cap at all */
    buf_init(&b, SIZE_MAX);
    buf_puts(&b, big);
    CHECK(buf_rc(&b) == 0 && b.len == 599);
    buf_free(&b);
    return check_finish();
}
