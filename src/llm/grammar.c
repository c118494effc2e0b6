/* grammar.c — the GBNF parser of grammar.h: text into rules (grammar_int.h), with the
 * checks that keep the matcher finite (defined rules, no left recursion) and caps on
 * everything, since the text comes from requests. */
#include "llm/grammar.h"
#include "llm/grammar_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

/* One rule while parsing. */
struct rbuf {
    struct gel *v;
    uint32_t n, cap;
    int defined;
    char *name;           /* owned; generated rules get "<parent>_<n>" */
};

struct parser {
    const char *s, *p, *end;
    struct rbuf *rules;
    uint32_t n_rules, cap_rules;
    uint32_t n_el;        /* elements in all rules, against LLM_GRAMMAR_ELEMS_MAX */
    int depth;
    struct inferd_err *err;
    int rc;
};

static int perr(struct parser *ps, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(struct parser *ps, int code, const char *fmt, ...)
{
    if (ps->rc)
        return ps->rc;
    int line = 1, col = 1;
    for (const char *q = ps->s; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ps->rc = inferd_err_set(ps->err, code, "line %d col %d: %s", line, col, msg);
    return ps->rc;
}

static int push(struct parser *ps, struct rbuf *r, uint32_t type, uint32_t value)
{
    if (ps->n_el >= LLM_GRAMMAR_ELEMS_MAX)
        return perr(ps, INFERD_ETOOLARGE, "over %u grammar elements", LLM_GRAMMAR_ELEMS_MAX);
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 16;
        struct gel *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return perr(ps, INFERD_ENOMEM, "out of memory");
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = (struct gel){type, value};
    ps->n_el++;
    return 0;
}

/* A new rule; returns its id or a negative error. Takes nothing. */
static int new_rule(struct parser *ps, const char *name, size_t n)
{
    if (ps->n_rules >= LLM_GRAMMAR_RULES_MAX)
        return perr(ps, INFERD_ETOOLARGE, "over %d rules", LLM_GRAMMAR_RULES_MAX);
    if (ps->n_rules == ps->cap_rules) {
        uint32_t cap = ps->cap_rules ? ps->cap_rules * 2 : 16;
        struct rbuf *r = realloc(ps->rules, cap * sizeof *r);
        if (!r)
            return perr(ps, INFERD_ENOMEM, "out of memory");
        ps->rules = r;
        ps->cap_rules = cap;
    }
    struct rbuf *r = &ps->rules[ps->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(n + 1);
    if (!r->name)
        return perr(ps, INFERD_ENOMEM, "out of memory");
    memcpy(r->name, name, n);
    r->name[n] = 0;
    return (int)ps->n_rules++;
}

/* The id of the named rule, created (undefined) when new. */
static int symbol(struct parser *ps, const char *name, size_t n)
{
    for (uint32_t i = 0; i < ps->n_rules; i++)
        if (strlen(ps->rules[i].name) == n && memcmp(ps->rules[i].name, name, n) == 0)
            return (int)i;
    return new_rule(ps, name, n);
}

static int generated(struct parser *ps, uint32_t parent)
{
    char name[96];
    snprintf(name, sizeof name, "%.64s_%u", ps->rules[parent].name, ps->n_rules);
    int id = new_rule(ps, name, strlen(name));
    if (id >= 0)
        ps->rules[id].defined = 1;
    return id;
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Skips blanks and comments; newlines too when newline_ok. */
static void skip_space(struct parser *ps, int newline_ok)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == ' ' || c == '\t') {
            ps->p++;
        } else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else if (newline_ok && (c == '\n' || c == '\r')) {
            ps->p++;
        } else {
            break;
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class (escapes decoded). Returns 0 with *cp, or an error. */
static int parse_char(struct parser *ps, uint32_t *cp)
{
    if (ps->p >= ps->end)
        return perr(ps, INFERD_EINVAL, "unexpected end of grammar");
    if (*ps->p == '\\') {
        ps->p++;
        if (ps->p >= ps->end)
            return perr(ps, INFERD_EINVAL, "unexpected end of grammar after \\");
        char c = *ps->p++;
        int nhex = 0;
        switch (c) {
        case 'n': *cp = '\n'; return 0;
        case 'r': *cp = '\r'; return 0;
        case 't': *cp = '\t'; return 0;
        case '\\': case '"': case '[': case ']': case '-': case '^': *cp = (uint8_t)c; return 0;
        case 'x': nhex = 2; break;
        case 'u': nhex = 4; break;
        case 'U': nhex = 8; break;
        default: ps->p--; return perr(ps, INFERD_EINVAL, "unknown escape \\%c", c);
        }
        uint32_t v = 0;
        for (int i = 0; i < nhex; i++) {
            int h = ps->p < ps->end ? hexval(*ps->p) : -1;
            if (h < 0)
                return perr(ps, INFERD_EINVAL, "expected %d hex digits after \\%c", nhex, c);
            v = v << 4 | (uint32_t)h;
            ps->p++;
        }
        if (v > 0x10FFFF)
            return perr(ps, INFERD_EINVAL, "code point U+%X is past U+10FFFF", v);
        *cp = v;
        return 0;
    }
    size_t k = utf8_seq_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
    if (k == 0)
        return perr(ps, INFERD_EINVAL, "invalid UTF-8");
    utf8_decode(ps->p, k, cp);
    ps->p += k;
    return 0;
}

static int parse_alternates(struct parser *ps, uint32_t rule, int nested);

/* Appends x{min,max} where x = r->v[start..r->n) (max < 0: unbounded), llama.cpp's way:
 * min copies, then a chain of optional rules (or one star rule). */
static int repeat(struct parser *ps, uint32_t rule, uint32_t start, long min, long max)
{
    struct rbuf *r = &ps->rules[rule];
    uint32_t n = r->n - start;
    struct gel *x = malloc((n ? n : 1) * sizeof *x);
    if (!x)
        return perr(ps, INFERD_ENOMEM, "out of memory");
    if (n)
        memcpy(x, r->v + start, n * sizeof *x);
    ps->n_el -= r->n - start;
    ps->rules[rule].n = start;
    int rc = 0;
    for (long i = 0; i < min && rc == 0; i++)
        for (uint32_t k = 0; k < n && rc == 0; k++)
            rc = push(ps, &ps->rules[rule], x[k].type, x[k].value);
    if (rc == 0 && max < 0) { /* star ::= x star | (empty) */
        int id = generated(ps, rule);
        rc = id < 0 ? id : 0;
        for (uint32_t k = 0; k < n && rc == 0; k++)
            rc = push(ps, &ps->rules[id], x[k].type, x[k].value);
        if (rc == 0)
            rc = push(ps, &ps->rules[id], GEL_RULE_REF, (uint32_t)id);
        if (rc == 0)
            rc = push(ps, &ps->rules[id], GEL_ALT, 0);
        if (rc == 0)
            rc = push(ps, &ps->rules[id], GEL_END, 0);
        if (rc == 0)
            rc = push(ps, &ps->rules[rule], GEL_RULE_REF, (uint32_t)id);
    } else if (rc == 0 && max > min) { /* opt_k ::= x opt_{k-1} | (empty), innermost first */
        int last = -1;
        for (long i = 0; i < max - min && rc == 0; i++) {
            int id = generated(ps, rule);
            rc = id < 0 ? id : 0;
            for (uint32_t k = 0; k < n && rc == 0; k++)
                rc = push(ps, &ps->rules[id], x[k].type, x[k].value);
            if (rc == 0 && last >= 0)
                rc = push(ps, &ps->rules[id], GEL_RULE_REF, (uint32_t)last);
            if (rc == 0)
                rc = push(ps, &ps->rules[id], GEL_ALT, 0);
            if (rc == 0)
                rc = push(ps, &ps->rules[id], GEL_END, 0);
            last = id;
        }
        if (rc == 0)
            rc = push(ps, &ps->rules[rule], GEL_RULE_REF, (uint32_t)last);
    }
    free(x);
    return rc;
}

static int parse_count(struct parser *ps, long *out)
{
    long v = 0;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return perr(ps, INFERD_EINVAL, "expected a number in {}");
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        v = v * 10 + (*ps->p++ - '0');
        if (v > LLM_GRAMMAR_REPEAT_MAX)
            return perr(ps, INFERD_ETOOLARGE, "repetition count over %d", LLM_GRAMMAR_REPEAT_MAX);
    }
    *out = v;
    return 0;
}

/* One sequence of items into rule, up to | ) or the end of the rule. */
static int parse_sequence(struct parser *ps, uint32_t rule, int nested)
{
    uint32_t last_start = UINT32_MAX;
    while (ps->p < ps->end && ps->rc == 0) {
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            last_start = ps->rules[rule].n;
            while (ps->p < ps->end && *ps->p != '"') {
                uint32_t cp;
                if (parse_char(ps, &cp) < 0 || push(ps, &ps->rules[rule], GEL_CHAR, cp) < 0)
                    return ps->rc;
            }
            if (ps->p >= ps->end)
                return perr(ps, INFERD_EINVAL, "unterminated literal");
            ps->p++;
        } else if (c == '[') {
            ps->p++;
            last_start = ps->rules[rule].n;
            uint32_t first = GEL_CHAR;
            if (ps->p < ps->end && *ps->p == '^') {
                ps->p++;
                first = GEL_CHAR_NOT;
            }
            int k = 0;
            while (ps->p < ps->end && *ps->p != ']') {
                uint32_t cp, hi;
                if (parse_char(ps, &cp) < 0 || push(ps, &ps->rules[rule], k++ ? GEL_CHAR_ALT : first, cp) < 0)
                    return ps->rc;
                if (ps->p + 1 < ps->end && ps->p[0] == '-' && ps->p[1] != ']') {
                    ps->p++;
                    if (parse_char(ps, &hi) < 0)
                        return ps->rc;
                    if (hi < cp)
                        return perr(ps, INFERD_EINVAL, "range upper bound below its lower bound");
                    if (push(ps, &ps->rules[rule], GEL_CHAR_RNG_UPPER, hi) < 0)
                        return ps->rc;
                }
            }
            if (ps->p >= ps->end)
                return perr(ps, INFERD_EINVAL, "unterminated character class");
            if (k == 0)
                return perr(ps, INFERD_EINVAL, "empty character class");
            ps->p++;
        } else if (is_word(c)) {
            const char *n0 = ps->p;
            while (ps->p < ps->end && is_word(*ps->p))
                ps->p++;
            int id = symbol(ps, n0, (size_t)(ps->p - n0));
            if (id < 0)
                return id;
            last_start = ps->rules[rule].n;
            if (push(ps, &ps->rules[rule], GEL_RULE_REF, (uint32_t)id) < 0)
                return ps->rc;
        } else if (c == '(') {
            ps->p++;
            if (++ps->depth > LLM_GRAMMAR_NEST_MAX)
                return perr(ps, INFERD_ETOOLARGE, "parentheses nested over %d deep", LLM_GRAMMAR_NEST_MAX);
            int id = generated(ps, rule);
            if (id < 0)
                return id;
            skip_space(ps, 1);
            if (parse_alternates(ps, (uint32_t)id, 1) < 0)
                return ps->rc;
            if (ps->p >= ps->end || *ps->p != ')')
                return perr(ps, INFERD_EINVAL, "expected )");
            ps->p++;
            ps->depth--;
            last_start = ps->rules[rule].n;
            if (push(ps, &ps->rules[rule], GEL_RULE_REF, (uint32_t)id) < 0)
                return ps->rc;
        } else if (c == '.') {
            ps->p++;
            last_start = ps->rules[rule].n;
            if (push(ps, &ps->rules[rule], GEL_CHAR_ANY, 0) < 0)
                return ps->rc;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last_start == UINT32_MAX)
                return perr(ps, INFERD_EINVAL, "'%c' follows nothing", c);
            ps->p++;
            long min = 0, max = -1;
            if (c == '+')
                min = 1;
            else if (c == '?')
                max = 1;
            else if (c == '{') {
                skip_space(ps, 0);
                if (parse_count(ps, &min) < 0)
                    return ps->rc;
                skip_space(ps, 0);
                max = min;
                if (ps->p < ps->end && *ps->p == ',') {
                    ps->p++;
                    skip_space(ps, 0);
                    max = -1;
                    if (ps->p < ps->end && *ps->p != '}' && parse_count(ps, &max) < 0)
                        return ps->rc;
                    skip_space(ps, 0);
                    if (max >= 0 && max < min)
                        return perr(ps, INFERD_EINVAL, "{m,n} with n < m");
                }
                if (ps->p >= ps->end || *ps->p != '}')
                    return perr(ps, INFERD_EINVAL, "expected }");
                ps->p++;
            }
            if (repeat(ps, rule, last_start, min, max) < 0)
                return ps->rc;
            last_start = UINT32_MAX; /* x** is an error, as in llama.cpp */
        } else {
            break;
        }
        skip_space(ps, nested);
    }
    return ps->rc;
}

static int parse_alternates(struct parser *ps, uint32_t rule, int nested)
{
    for (;;) {
        if (parse_sequence(ps, rule, nested) < 0)
            return ps->rc;
        /* a '|' may begin the next line of a top-level rule */
        const char *save = ps->p;
        skip_space(ps, 1);
        if (ps->p >= ps->end || *ps->p != '|') {
            if (!nested)
                ps->p = save;
            break;
        }
        ps->p++;
        if (push(ps, &ps->rules[rule], GEL_ALT, 0) < 0)
            return ps->rc;
        skip_space(ps, 1);
    }
    return push(ps, &ps->rules[rule], GEL_END, 0);
}

static int parse_rule(struct parser *ps)
{
    const char *n0 = ps->p;
    while (ps->p < ps->end && is_word(*ps->p))
        ps->p++;
    if (ps->p == n0)
        return perr(ps, INFERD_EINVAL, "expected a rule name");
    int id = symbol(ps, n0, (size_t)(ps->p - n0));
    if (id < 0)
        return id;
    if (ps->rules[id].defined)
        return perr(ps, INFERD_EINVAL, "rule %s defined twice", ps->rules[id].name);
    ps->rules[id].defined = 1;
    skip_space(ps, 0);
    if (ps->end - ps->p < 3 || memcmp(ps->p, "::=", 3) != 0)
        return perr(ps, INFERD_EINVAL, "expected ::= after %s", ps->rules[id].name);
    ps->p += 3;
    skip_space(ps, 1);
    if (parse_alternates(ps, (uint32_t)id, 0) < 0)
        return ps->rc;
    skip_space(ps, 0);
    if (ps->p < ps->end && *ps->p != '\n' && *ps->p != '\r')
        return perr(ps, INFERD_EINVAL, "unexpected '%c'", *ps->p);
    return 0;
}

/* nullable[i]: rule i can match the empty string (fixpoint). */
static void nullable_rules(const struct parser *ps, uint8_t *nullable)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t i = 0; i < ps->n_rules; i++) {
            if (nullable[i])
                continue;
            const struct rbuf *r = &ps->rules[i];
            int ok = 1; /* current alternative is still all-nullable */
            for (uint32_t k = 0; k < r->n; k++) {
                uint32_t t = r->v[k].type;
                if (gel_is_end(t)) {
                    if (ok) {
                        nullable[i] = 1;
                        changed = 1;
                        break;
                    }
                    ok = 1;
                } else if (t == GEL_RULE_REF) {
                    ok &= nullable[r->v[k].value];
                } else if (t != GEL_CHAR_ALT && t != GEL_CHAR_RNG_UPPER) {
                    ok = 0;
                }
            }
        }
    }
}

/* DFS over "may start with" edges; state 1 = on the path, 2 = done. Returns the rule that
 * closes a cycle, -1 when none, -2 out of memory. Iterative on an explicit stack of
 * (rule, next element, still at the left edge) triples: the rule chain may be long. */
static int left_cycle(const struct parser *ps, const uint8_t *nullable, uint8_t *state)
{
    uint32_t *stk = malloc(ps->n_rules * 3 * sizeof *stk);
    if (!stk)
        return -2;
    int found = -1;
    for (uint32_t s = 0; s < ps->n_rules && found < 0; s++) {
        if (state[s])
            continue;
        uint32_t sp = 0;
        stk[sp++] = s;
        stk[sp++] = 0;
        stk[sp++] = 1;
        state[s] = 1;
        while (sp && found < 0) {
            uint32_t rule = stk[sp - 3], k = stk[sp - 2], left = stk[sp - 1];
            const struct rbuf *r = &ps->rules[rule];
            int next = -1;
            while (k < r->n && next < 0) {
                const struct gel *e = &r->v[k++];
                if (gel_is_end(e->type)) {
                    left = 1;
                } else if (e->type == GEL_RULE_REF) {
                    if (left)
                        next = (int)e->value;
                    left = left && nullable[e->value];
                } else if (e->type != GEL_CHAR_ALT && e->type != GEL_CHAR_RNG_UPPER) {
                    left = 0;
                }
            }
            stk[sp - 2] = k;
            stk[sp - 1] = left;
            if (next < 0) {
                state[rule] = 2;
                sp -= 3;
            } else if (state[next] == 1) {
                found = next;
            } else if (state[next] == 0) {
                state[next] = 1;
                stk[sp++] = (uint32_t)next;
                stk[sp++] = 0;
                stk[sp++] = 1;
            }
        }
    }
    free(stk);
    return found;
}

static void parser_free(struct parser *ps)
{
    for (uint32_t i = 0; i < ps->n_rules; i++) {
        free(ps->rules[i].v);
        free(ps->rules[i].name);
    }
    free(ps->rules);
}

int llm_grammar_parse(const char *text, size_t len, const char *root, struct llm_grammar **out,
                      struct inferd_err *err)
{
    struct parser ps = {.s = text, .p = text, .end = text + len, .err = err};
    struct llm_grammar *g = NULL;
    uint8_t *marks = NULL;
    int rc;
    *out = NULL;
    if (!root)
        root = "root";
    if (len > LLM_GRAMMAR_TEXT_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "over %u bytes", LLM_GRAMMAR_TEXT_MAX);
    if (memchr(text, 0, len))
        return inferd_err_set(err, INFERD_EINVAL, "contains a NUL byte");
    skip_space(&ps, 1);
    while (ps.p < ps.end) {
        rc = parse_rule(&ps);
        if (rc < 0)
            goto fail;
        skip_space(&ps, 1);
    }
    int root_id = -1;
    for (uint32_t i = 0; i < ps.n_rules; i++) {
        if (!ps.rules[i].defined) {
            rc = inferd_err_set(err, INFERD_EINVAL, "rule %s is used but not defined", ps.rules[i].name);
            goto fail;
        }
        if (strcmp(ps.rules[i].name, root) == 0)
            root_id = (int)i;
    }
    if (root_id < 0) {
        rc = inferd_err_set(err, INFERD_EINVAL, "no rule named %s (the start rule)", root);
        goto fail;
    }
    marks = calloc(ps.n_rules * 2 + 1, 1);
    if (!marks) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    nullable_rules(&ps, marks);
    int cyc = left_cycle(&ps, marks, marks + ps.n_rules);
    if (cyc == -2) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    if (cyc >= 0) {
        rc = inferd_err_set(err, INFERD_EINVAL, "rule %s is left-recursive", ps.rules[cyc].name);
        goto fail;
    }
    g = calloc(1, sizeof *g);
    if (!g)
        goto oom;
    g->el = malloc((ps.n_el ? ps.n_el : 1) * sizeof *g->el);
    g->rule_start = malloc(ps.n_rules * sizeof *g->rule_start);
    if (!g->el || !g->rule_start)
        goto oom;
    for (uint32_t i = 0; i < ps.n_rules; i++) {
        g->rule_start[i] = g->n_el;
        memcpy(g->el + g->n_el, ps.rules[i].v, ps.rules[i].n * sizeof *g->el);
        g->n_el += ps.rules[i].n;
    }
    g->n_rules = ps.n_rules;
    g->root = (uint32_t)root_id;
    atomic_init(&g->refs, 1);
    free(marks);
    parser_free(&ps);
    *out = g;
    return 0;
oom:
    rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
fail:
    if (g) {
        free(g->el);
        free(g->rule_start);
        free(g);
    }
    free(marks);
    parser_free(&ps);
    return rc;
}

struct llm_grammar *llm_grammar_ref(struct llm_grammar *g)
{
    atomic_fetch_add(&g->refs, 1);
    return g;
}

void llm_grammar_unref(struct llm_grammar *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    free(g->el);
    free(g->rule_start);
    free(g);
}

int llm_grammar_n_rules(const struct llm_grammar *g) { return (int)g->n_rules; }
