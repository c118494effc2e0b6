/* llm_tools_scan.c — tool calls read while they are generated (see llm_tools.h): what a
 * stream may send as content, and how far each call's name and arguments have come.
 *
 * The shape read, per family (ws = spaces, tabs, newlines):
 *
 *   Hermes   ( "<tool_call>" ws CALL ws "</tool_call>" ws )+
 *   Llama    ws [ "<|python_tag|>" ] ws CALL
 *   Mistral  "[TOOL_CALLS]" ws "[" ws CALL ( ws "," ws CALL )* ws "]"
 *   CALL     "{" ws "\"name\"" ws ":" ws "\"" NAME "\"" ws "," ws
 *            ("\"arguments\"" | "\"parameters\"") ws ":" ws OBJECT ( any other members ) "}"
 *
 * Calls written otherwise (arguments first, arguments as a string) are not streamed: the
 * stream holds them and sends each call whole at the end (llm_tools_extract). */
#include "serve/routes/llm_tools.h"

#include <string.h>

static int is_space(char ch) { return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r'; }

static int name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

static void skip_ws(const char *s, size_t len, size_t *i)
{
    while (*i < len && is_space(s[*i]))
        (*i)++;
}

/* Matches lit at s[*i]: 1 (matched, *i moved past it), 0 (the text ends inside it), -1
 * (it differs). */
static int lit(const char *s, size_t len, size_t *i, const char *l)
{
    size_t n = strlen(l), have = len - *i < n ? len - *i : n;
    if (memcmp(s + *i, l, have) != 0)
        return -1;
    if (have < n)
        return 0;
    *i += n;
    return 1;
}

/* Bytes of s[off..len) that end on a whole UTF-8 character. */
static size_t whole_utf8(const char *s, size_t off, size_t len)
{
    size_t e = len, back = 0;
    while (e > off && back < 4 && ((unsigned char)s[e - 1] & 0xC0) == 0x80)
        e--, back++;
    if (e > off) {
        unsigned char lead = (unsigned char)s[e - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (need == back + 1 || lead < 0x80)
            return len - off;
        return e - 1 - off;
    }
    return len - off;
}

/* Scans a JSON value's nesting from s[*i] (depth already open, 1 for a value that began
 * with '{'): 1 when it closed (*i past the closing byte), 0 when the text ends first. */
static int close_value(const char *s, size_t len, size_t *i, int depth)
{
    int in_str = 0, esc = 0;
    for (; *i < len; (*i)++) {
        char ch = s[*i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if ((ch == '}' || ch == ']') && --depth == 0) {
            (*i)++;
            return 1;
        }
    }
    return 0;
}

#define STEP(expr)                   \
    do {                             \
        int r_ = (expr);             \
        if (r_ <= 0)                 \
            return r_;               \
    } while (0)

/* One CALL at s[*i]: 1 when its arguments opened (*p filled; *end past the call's "}" or 0
 * while it is open), 0 when the text ends before, -1 when it is not written that way. */
static int scan_call(const char *s, size_t len, size_t *i, struct llm_tools_part *p, size_t *end)
{
    *end = 0;
    STEP(lit(s, len, i, "{"));
    skip_ws(s, len, i);
    STEP(lit(s, len, i, "\"name\""));
    skip_ws(s, len, i);
    STEP(lit(s, len, i, ":"));
    skip_ws(s, len, i);
    STEP(lit(s, len, i, "\""));
    size_t name = *i;
    while (*i < len && name_char(s[*i]) && *i - name < 64)
        (*i)++;
    if (*i == len)
        return 0;
    if (s[*i] != '"' || *i == name)
        return -1;
    p->name_off = name;
    p->name_len = *i - name;
    (*i)++;
    skip_ws(s, len, i);
    STEP(lit(s, len, i, ","));
    skip_ws(s, len, i);
    int r = lit(s, len, i, "\"arguments\"");
    if (r < 0)
        r = lit(s, len, i, "\"parameters\"");
    STEP(r);
    skip_ws(s, len, i);
    STEP(lit(s, len, i, ":"));
    skip_ws(s, len, i);
    STEP(lit(s, len, i, "{"));
    p->args_off = *i - 1;
    p->args_done = close_value(s, len, i, 1);
    p->args_len = p->args_done ? *i - p->args_off : whole_utf8(s, p->args_off, len);
    if (p->args_done && close_value(s, len, i, 1)) /* any members after: to the call's "}" */
        *end = *i;
    return 1;
}

int llm_tools_scan(const struct llm_tools *t, const char *s, size_t len, struct llm_tools_part *parts, int max,
                   int *bad)
{
    size_t i = 0, end = 0;
    int n = 0, r = 1;
    *bad = 0;
    skip_ws(s, len, &i);
    if (t->syntax == LLM_TOOLS_LLAMA) {
        if (lit(s, len, &i, "<|python_tag|>") == 0)
            return 0;
        skip_ws(s, len, &i);
        if (max > 0 && (r = scan_call(s, len, &i, &parts[0], &end)) > 0)
            n = 1;
    } else if (t->syntax == LLM_TOOLS_MISTRAL) {
        if ((r = lit(s, len, &i, LLM_TOOL_CALLS_MISTRAL)) > 0) {
            skip_ws(s, len, &i);
            r = lit(s, len, &i, "[");
        }
        while (r > 0 && n < max) {
            skip_ws(s, len, &i);
            if ((r = scan_call(s, len, &i, &parts[n], &end)) <= 0)
                break;
            n++;
            if (!end)
                break;
            i = end;
            skip_ws(s, len, &i);
            if (i == len || s[i] == ']')
                break;
            r = s[i++] == ',' ? 1 : -1;
        }
    } else {
        while (n < max && (r = lit(s, len, &i, LLM_TOOL_CALL_OPEN)) > 0) {
            skip_ws(s, len, &i);
            if ((r = scan_call(s, len, &i, &parts[n], &end)) <= 0)
                break;
            n++;
            if (!end)
                break;
            i = end;
            skip_ws(s, len, &i);
            if ((r = lit(s, len, &i, "</tool_call>")) <= 0)
                break;
            skip_ws(s, len, &i);
            if (i == len)
                break;
        }
    }
    *bad = r < 0;
    return n;
}

size_t llm_tools_partial_open(const struct llm_tools *t, const char *text, size_t len)
{
    const char *open = t->syntax == LLM_TOOLS_MISTRAL ? LLM_TOOL_CALLS_MISTRAL : LLM_TOOL_CALL_OPEN;
    size_t open_len = strlen(open);
    for (size_t k = open_len - 1; k > 0; k--)
        if (k <= len && memcmp(text + len - k, open, k) == 0)
            return k;
    return 0;
}

size_t llm_tools_sendable(const struct llm_tools *t, const char *text, size_t len, int *state)
{
    if (*state == LLM_TOOLS_STREAM_CALL)
        return 0;
    if (*state == LLM_TOOLS_STREAM_TEXT)
        return len;
    if (t->syntax == LLM_TOOLS_LLAMA) { /* a call is the whole answer: decided by its first visible byte */
        size_t i = 0;
        while (i < len && is_space(text[i]))
            i++;
        if (i == len)
            return 0;
        *state = text[i] == '{' || text[i] == '<' ? LLM_TOOLS_STREAM_CALL : LLM_TOOLS_STREAM_TEXT;
        return *state == LLM_TOOLS_STREAM_CALL ? 0 : len;
    }
    const char *mark = t->syntax == LLM_TOOLS_MISTRAL ? LLM_TOOL_CALLS_MISTRAL : LLM_TOOL_CALL_OPEN;
    const char *open = memmem(text, len, mark, strlen(mark));
    if (open) {
        *state = LLM_TOOLS_STREAM_CALL;
        return (size_t)(open - text);
    }
    return len - llm_tools_partial_open(t, text, len);
}
