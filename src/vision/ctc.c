/* ctc.c — PaddleOCR character lists and greedy CTC decoding. */
#include "vision/ctc.h"

#include "base/utf8.h"
#include "pack/manifest.h"

#include <stdlib.h>
#include <string.h>

int vision_charset_parse(const char *data, size_t len, struct vision_charset *cs, struct inferd_err *err)
{
    memset(cs, 0, sizeof *cs);
    if (len > VISION_CHARSET_MAX_BYTES)
        return inferd_err_set(err, INFERD_ETOOLARGE, "character list: %zu bytes; at most %u", len,
                              VISION_CHARSET_MAX_BYTES);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    if (len > 0 && data[len - 1] != '\n')
        lines++;
    if (lines == 0)
        return inferd_err_set(err, INFERD_EFORMAT, "character list: empty");
    if (lines >= VISION_CHARSET_MAX_CHARS)
        return inferd_err_set(err, INFERD_ETOOLARGE, "character list: %zu lines; at most %d", lines,
                              VISION_CHARSET_MAX_CHARS - 1);
    cs->blob = malloc(len + 3);
    cs->chars = malloc((lines + 1) * sizeof *cs->chars);
    if (!cs->blob || !cs->chars) {
        vision_charset_free(cs);
        return inferd_err_set(err, INFERD_ENOMEM, "character list: out of memory");
    }
    memcpy(cs->blob, data, len);
    size_t start = 0;
    for (size_t line = 0; line < lines; line++) {
        size_t end = start;
        while (end < len && cs->blob[end] != '\n')
            end++;
        size_t e = end;
        if (e > start && cs->blob[e - 1] == '\r')
            e--;
        if (e == start || !utf8_valid(cs->blob + start, e - start) || memchr(cs->blob + start, 0, e - start)) {
            int rc = inferd_err_set(err, INFERD_EFORMAT, "character list: line %zu is %s", line + 1,
                                    e == start ? "empty" : "not valid UTF-8 text");
            vision_charset_free(cs);
            return rc;
        }
        cs->blob[e] = '\0';
        cs->chars[line] = cs->blob + start;
        start = end + 1;
    }
    /* the space PaddleOCR appends after the file's characters; it sits past the last
     * line's terminator (blob[len] when the file does not end in "\n") */
    cs->blob[len] = '\0';
    cs->blob[len + 1] = ' ';
    cs->blob[len + 2] = '\0';
    cs->chars[lines] = cs->blob + len + 1;
    cs->n = (int)lines + 1;
    return 0;
}

int vision_charset_load(const char *path, struct vision_charset *cs, struct inferd_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    memset(cs, 0, sizeof *cs);
    int rc = pack_read_small(path, VISION_CHARSET_MAX_BYTES, &buf, &len, err);
    if (rc < 0)
        return rc;
    rc = vision_charset_parse(buf, len, cs, err);
    free(buf);
    if (rc < 0)
        inferd_err_prefix(err, "%s", path);
    return rc;
}

void vision_charset_free(struct vision_charset *cs)
{
    if (!cs)
        return;
    free(cs->blob);
    free(cs->chars);
    memset(cs, 0, sizeof *cs);
}

int vision_ctc_greedy(const float *probs, int steps, int classes, const struct vision_charset *cs, char *out,
                      size_t cap, float *score, struct inferd_err *err)
{
    if (classes != cs->n + 1)
        return inferd_err_set(err, INFERD_EFORMAT,
                              "the recogniser has %d classes but the character list gives %d (blank + %d lines + "
                              "space)", classes, cs->n + 1, cs->n - 1);
    size_t len = 0;
    double sum = 0;
    int kept = 0, prev = -1;
    out[0] = '\0';
    for (int t = 0; t < steps; t++) {
        const float *p = probs + (size_t)t * (size_t)classes;
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (p[c] > p[best])
                best = c;
        if (best != 0 && best != prev) {
            const char *ch = cs->chars[best - 1];
            size_t n = strlen(ch);
            if (len + n + 1 > cap)
                return inferd_err_set(err, INFERD_ETOOLARGE, "recognised text is longer than %zu bytes", cap - 1);
            memcpy(out + len, ch, n + 1);
            len += n;
            sum += p[best];
            kept++;
        }
        prev = best;
    }
    *score = kept ? (float)(sum / kept) : 0.0f;
    return 0;
}
