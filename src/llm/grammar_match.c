/* grammar_match.c — the matcher of grammar.h: pushdown stacks over a parsed grammar, the
 * per-model token table, and the vocabulary mask.
 *
 * A stack is a list of element positions, top last; its top is always a character element
 * (rule references are expanded eagerly into one stack per alternative), or the stack is
 * empty: the match is complete. A set of stacks lives in a u32 vector as
 * [len, pos...][len, pos...]..., deduplicated. Accepting a code point maps every stack
 * whose top matches it to its successors. */
#include "llm/grammar.h"
#include "llm/grammar_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "inferd/llm.h"

#define GV_PIECE_MAX 512          /* bytes of a token's piece (the scheduler's cap too) */
#define GM_STACKS_MAX 1024        /* stacks in one set */
#define GM_WORDS_MAX (1u << 24)   /* u32 words of one stack-set vector */
#define GM_DEPTH_MAX 8192         /* nested expansions of rule references */
#define GM_EXPAND_MAX (1 << 15)   /* rule expansions for one code point */
#define GM_CACHE_N 8              /* masks remembered per matcher (by stack set) */
#define GM_CACHE_WORDS 4096       /* largest stack set worth remembering (u32 words) */
#define GM_MEMO_N 4096            /* transitions remembered during one walk (direct-mapped) */
#define GM_MEMO_WORDS (1u << 20)  /* u32 words of sets those transitions may copy */
#define GM_SHARED_N 32            /* masks in a cache shared by matchers (llm_gmask_cache) */

struct u32v {
    uint32_t *v;
    uint32_t n, cap;
};

struct llm_gvocab {
    int n;
    char *bytes;                  /* all pieces, back to back */
    uint32_t *off;                /* n: where piece i starts */
    uint16_t *len;                /* n: its length (0: never allowed, e.g. control tokens) */
    uint8_t *eog;                 /* n: ends generation */
    int32_t *order;               /* n_order ids with a piece, sorted by their bytes */
    uint16_t *lcp;                /* n_order: common prefix with the previous one in order */
    int n_order;
};

/* A mask remembered for one stack set: grammars revisit the same state over and over (every
 * character inside a string, every digit of a number), and the walk is the expensive part. */
struct gm_cached {
    uint64_t hash;                /* of the set's words; 0 = empty entry */
    uint32_t n_words;
    uint32_t *words;              /* owned copy of the set */
    uint8_t partial[4];           /* and of the unfinished code point */
    int n_partial;
    uint8_t *ok;                  /* owned, n_vocab verdicts */
    struct llm_grammar *g;        /* shared cache only: a reference to the grammar it is for */
};

struct llm_gmask_cache {
    int n_vocab;
    struct gm_cached e[GM_SHARED_N];
    int next;                     /* the entry the next store replaces (round robin) */
};

/* One remembered transition of the walk: the set at src (in memo_words) takes cp to the set
 * at res. The walk meets the same (set, code point) pair again and again: inside a string
 * every ordinary character leads back to the same set. */
struct gm_memo {
    uint32_t key;                 /* hash of the source set and cp; 0 = empty */
    uint32_t cp;
    uint32_t src_off, src_len, res_off, res_len;
};

struct llm_gmatch {
    const struct llm_grammar *g;  /* borrowed */
    const struct llm_gvocab *v;   /* borrowed */
    struct u32v cur;              /* the current set */
    struct u32v a, b;             /* ping-pong sets while running bytes */
    struct u32v tmp;              /* stacks under construction (expand) */
    struct u32v scratch;          /* the mask's trie walk: one set per prefix level */
    struct u32v seen;             /* stacks already expanded for this code point:
                                     [hash, len, pos...]... (nullable rules reach the same
                                     stack by many paths; expanding each once keeps it
                                     polynomial) */
    int budget;                   /* expansions left for this code point */
    struct gm_memo *memo;         /* GM_MEMO_N, allocated at the first walk; reset per walk */
    struct u32v memo_words;
    uint8_t partial[4];           /* bytes of a code point cut by the last token */
    int n_partial;
    uint8_t *ok;                  /* n_vocab: the mask's verdicts */
    struct gm_cached cache[GM_CACHE_N];
    int cache_next;               /* the entry the next miss replaces (round robin) */
    struct llm_gmask_cache *shared; /* borrowed, or NULL */
};

static int v_reserve(struct u32v *a, uint32_t extra)
{
    if (a->n + extra <= a->cap)
        return 0;
    if ((uint64_t)a->n + extra > GM_WORDS_MAX)
        return INFERD_ETOOLARGE;
    uint32_t cap = a->cap ? a->cap : 256;
    while (cap < a->n + extra)
        cap *= 2;
    uint32_t *v = realloc(a->v, (size_t)cap * sizeof *v);
    if (!v)
        return INFERD_ENOMEM;
    a->v = v;
    a->cap = cap;
    return 0;
}

/* Appends stk[0..len) to the set that starts at dst->v[from] unless it is there already. */
static int add_unique(struct u32v *dst, uint32_t from, const uint32_t *stk, uint32_t len)
{
    int count = 0;
    for (uint32_t i = from; i < dst->n; i += dst->v[i] + 1, count++)
        if (dst->v[i] == len && memcmp(dst->v + i + 1, stk, len * sizeof *stk) == 0)
            return 0;
    if (count >= GM_STACKS_MAX)
        return INFERD_ETOOLARGE;
    int rc = v_reserve(dst, len + 1);
    if (rc < 0)
        return rc;
    dst->v[dst->n++] = len;
    memcpy(dst->v + dst->n, stk, len * sizeof *stk);
    dst->n += len;
    return 0;
}

/* Adds to the set at dst[from..] every stack that gm->tmp[off..off+len) expands to: a
 * reference on top is replaced by each alternative of its rule, recursively. */
static int expand(struct llm_gmatch *gm, struct u32v *dst, uint32_t from, uint32_t off, uint32_t len, int depth)
{
    const struct gel *el = gm->g->el;
    if (len == 0 || gel_is_char(el[gm->tmp.v[off + len - 1]].type))
        return add_unique(dst, from, gm->tmp.v + off, len);
    if (depth > GM_DEPTH_MAX || --gm->budget < 0)
        return INFERD_ETOOLARGE;
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ gm->tmp.v[off + i]) * 16777619u;
    for (uint32_t i = 0; i < gm->seen.n; i += gm->seen.v[i + 1] + 2)
        if (gm->seen.v[i] == h && gm->seen.v[i + 1] == len &&
            memcmp(gm->seen.v + i + 2, gm->tmp.v + off, len * sizeof(uint32_t)) == 0)
            return 0;
    int grow = v_reserve(&gm->seen, len + 2);
    if (grow < 0)
        return grow;
    gm->seen.v[gm->seen.n++] = h;
    gm->seen.v[gm->seen.n++] = len;
    memcpy(gm->seen.v + gm->seen.n, gm->tmp.v + off, len * sizeof(uint32_t));
    gm->seen.n += len;
    uint32_t top = gm->tmp.v[off + len - 1];
    uint32_t a = gm->g->rule_start[el[top].value];
    for (;;) {
        uint32_t noff = gm->tmp.n;
        int rc = v_reserve(&gm->tmp, len + 1);
        if (rc < 0)
            return rc;
        uint32_t *t = gm->tmp.v;
        memcpy(t + noff, t + off, (len - 1) * sizeof *t);
        uint32_t nlen = len - 1;
        if (!gel_is_end(el[top + 1].type))
            t[noff + nlen++] = top + 1;
        if (!gel_is_end(el[a].type))
            t[noff + nlen++] = a;
        gm->tmp.n = noff + nlen;
        rc = expand(gm, dst, from, noff, nlen, depth + 1);
        gm->tmp.n = noff;
        if (rc < 0)
            return rc;
        while (!gel_is_end(el[a].type))
            a++;
        if (el[a].type == GEL_END)
            return 0;
        a++;
    }
}

/* Whether the character element at pos matches cp; OUT: *end, the element after its class. */
static int match_char(const struct gel *el, uint32_t pos, uint32_t cp, uint32_t *end)
{
    if (el[pos].type == GEL_CHAR_ANY) {
        *end = pos + 1;
        return 1;
    }
    int positive = el[pos].type == GEL_CHAR, found = 0;
    do {
        if (el[pos + 1].type == GEL_CHAR_RNG_UPPER) {
            found |= el[pos].value <= cp && cp <= el[pos + 1].value;
            pos += 2;
        } else {
            found |= el[pos].value == cp;
            pos++;
        }
    } while (el[pos].type == GEL_CHAR_ALT);
    *end = pos;
    return found == positive;
}

/* Appends to dst (from its current end) the set reached from src->v[s0..s1) by cp. src and
 * dst may be the same vector (the region is read by index). */
static int accept_cp(struct llm_gmatch *gm, struct u32v *src, uint32_t s0, uint32_t s1, uint32_t cp,
                     struct u32v *dst)
{
    const struct gel *el = gm->g->el;
    uint32_t from = dst->n;
    gm->seen.n = 0;
    gm->budget = GM_EXPAND_MAX;
    for (uint32_t i = s0; i < s1; i += src->v[i] + 1) {
        uint32_t len = src->v[i], end;
        if (len == 0 || !match_char(el, src->v[i + len], cp, &end))
            continue;
        uint32_t off = gm->tmp.n;
        int rc = v_reserve(&gm->tmp, len);
        if (rc < 0)
            return rc;
        memcpy(gm->tmp.v + off, src->v + i + 1, (len - 1) * sizeof(uint32_t));
        uint32_t nlen = len - 1;
        if (!gel_is_end(el[end].type))
            gm->tmp.v[off + nlen++] = end;
        gm->tmp.n = off + nlen;
        rc = expand(gm, dst, from, off, nlen, 0);
        gm->tmp.n = off;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* b[0..n) as the start of a longer UTF-8 sequence: the code points it may still become are
 * [*lo, *hi]. Returns 0 when it is no such start. */
static int partial_range(const uint8_t *b, size_t n, uint32_t *lo, uint32_t *hi)
{
    size_t need;
    uint32_t v;
    if (b[0] >= 0xC2 && b[0] <= 0xDF) {
        need = 2;
        v = b[0] & 0x1F;
    } else if (b[0] >= 0xE0 && b[0] <= 0xEF) {
        need = 3;
        v = b[0] & 0x0F;
    } else if (b[0] >= 0xF0 && b[0] <= 0xF4) {
        need = 4;
        v = b[0] & 0x07;
    } else {
        return 0;
    }
    if (n >= need)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((b[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (b[i] & 0x3F);
    }
    unsigned rem = (unsigned)(6 * (need - n));
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000}; /* no overlong forms */
    *lo = v << rem;
    *hi = *lo | ((1u << rem) - 1);
    if (*lo < least[need])
        *lo = least[need];
    if (*hi > 0x10FFFF)
        *hi = 0x10FFFF;
    return *lo <= *hi;
}

/* Whether some stack of set[s0..s1) could take a code point in [lo, hi]. */
static int partial_ok(const struct llm_gmatch *gm, const struct u32v *set, uint32_t s0, uint32_t s1, uint32_t lo,
                      uint32_t hi)
{
    const struct gel *el = gm->g->el;
    for (uint32_t i = s0; i < s1; i += set->v[i] + 1) {
        uint32_t len = set->v[i];
        if (len == 0)
            continue;
        uint32_t pos = set->v[i + len];
        if (el[pos].type != GEL_CHAR) /* any, or negated: some code point of the range fits */
            return 1;
        do {
            uint32_t a = el[pos].value, b = a;
            if (el[pos + 1].type == GEL_CHAR_RNG_UPPER)
                b = el[++pos].value;
            if (a <= hi && b >= lo)
                return 1;
            pos++;
        } while (el[pos].type == GEL_CHAR_ALT);
    }
    return 0;
}

/* Runs p[0..n) from the current set. Returns 1 when every byte was taken (OUT: *res, the
 * vector holding the new set from index 0; *n_tail bytes at the end are an unfinished code
 * point), 0 when rejected, or a negative cap error. */
static int run_bytes(struct llm_gmatch *gm, const uint8_t *p, size_t n, struct u32v **res, size_t *n_tail)
{
    struct u32v *src = &gm->cur;
    size_t i = 0;
    *n_tail = 0;
    while (i < n) {
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0) {
            uint32_t lo, hi;
            if (n - i < 4 && partial_range(p + i, n - i, &lo, &hi) && partial_ok(gm, src, 0, src->n, lo, hi)) {
                *n_tail = n - i;
                break;
            }
            return 0;
        }
        uint32_t cp;
        utf8_decode((const char *)p + i, k, &cp);
        struct u32v *dst = src == &gm->a ? &gm->b : &gm->a;
        dst->n = 0;
        int rc = accept_cp(gm, src, 0, src->n, cp, dst);
        if (rc < 0)
            return rc;
        if (dst->n == 0)
            return 0;
        src = dst;
        i += k;
    }
    *res = src;
    return 1;
}

/* The bytes the matcher must run for token tok: the unfinished code point, then its piece.
 * Returns their length (0: the token never matches). */
static size_t token_bytes(const struct llm_gmatch *gm, int32_t tok, uint8_t *buf)
{
    const struct llm_gvocab *v = gm->v;
    if (v->len[tok] == 0)
        return 0;
    memcpy(buf, gm->partial, (size_t)gm->n_partial);
    memcpy(buf + gm->n_partial, v->bytes + v->off[tok], v->len[tok]);
    return (size_t)gm->n_partial + v->len[tok];
}

int llm_gmatch_can_end(const struct llm_gmatch *gm)
{
    if (gm->n_partial)
        return 0;
    for (uint32_t i = 0; i < gm->cur.n; i += gm->cur.v[i] + 1)
        if (gm->cur.v[i] == 0)
            return 1;
    return 0;
}

int llm_gmatch_done(const struct llm_gmatch *gm)
{
    return llm_gmatch_can_end(gm) && gm->cur.n == 1;
}

int llm_gmatch_allows(struct llm_gmatch *gm, int32_t tok)
{
    if (tok < 0 || tok >= gm->v->n)
        return 0;
    if (gm->v->eog[tok])
        return llm_gmatch_can_end(gm);
    uint8_t buf[GV_PIECE_MAX + 4];
    size_t n = token_bytes(gm, tok, buf), tail;
    struct u32v *res;
    return n > 0 && run_bytes(gm, buf, n, &res, &tail) == 1;
}

static int accept_bytes(struct llm_gmatch *gm, const uint8_t *p, size_t n, struct inferd_err *err)
{
    struct u32v *res;
    size_t tail;
    int rc = run_bytes(gm, p, n, &res, &tail);
    if (rc < 0)
        return inferd_err_set(err, rc, rc == INFERD_ENOMEM ? "grammar: out of memory"
                                                           : "grammar: the text needs over %d stacks", GM_STACKS_MAX);
    if (rc == 0)
        return inferd_err_set(err, INFERD_EINVAL, "grammar: the text does not continue a match");
    if (res != &gm->cur) {
        struct u32v t = gm->cur;
        gm->cur = *res;
        *res = t;
    }
    memcpy(gm->partial, p + n - tail, tail);
    gm->n_partial = (int)tail;
    return 0;
}

int llm_gmatch_accept(struct llm_gmatch *gm, int32_t tok, struct inferd_err *err)
{
    if (tok < 0 || tok >= gm->v->n)
        return inferd_err_set(err, INFERD_EINVAL, "grammar: token %d is not in the vocabulary", tok);
    if (gm->v->eog[tok])
        return llm_gmatch_can_end(gm) ? 0 : inferd_err_set(err, INFERD_EINVAL, "grammar: the match is not complete");
    uint8_t buf[GV_PIECE_MAX + 4];
    size_t n = token_bytes(gm, tok, buf);
    if (n == 0)
        return inferd_err_set(err, INFERD_EINVAL, "grammar: token %d has no text", tok);
    return accept_bytes(gm, buf, n, err);
}

int llm_gmatch_accept_text(struct llm_gmatch *gm, const char *text, size_t n, struct inferd_err *err)
{
    uint8_t buf[64 + 4];
    while (n > 0) { /* in slices, each continuing the unfinished code point of the last */
        size_t k = n < 64 ? n : 64;
        memcpy(buf, gm->partial, (size_t)gm->n_partial);
        memcpy(buf + gm->n_partial, text, k);
        int rc = accept_bytes(gm, buf, k + (size_t)gm->n_partial, err);
        if (rc < 0)
            return rc;
        text += k;
        n -= k;
    }
    return 0;
}

static uint32_t set_hash(const uint32_t *w, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ w[i]) * 16777619u;
    return h;
}

/* accept_cp from the level set sc[s0..s1) (hash h), through the walk's memo. Appends the
 * result to sc. Returns 0 or a negative cap error. */
static int walk_step(struct llm_gmatch *gm, struct u32v *sc, uint32_t s0, uint32_t s1, uint32_t h, uint32_t cp)
{
    uint32_t key = (h ^ (cp * 0x9E3779B1u)) | 1, len = s1 - s0;
    struct gm_memo *e = gm->memo ? &gm->memo[(key ^ (key >> 15)) & (GM_MEMO_N - 1)] : NULL;
    if (e && e->key == key && e->cp == cp && e->src_len == len &&
        memcmp(gm->memo_words.v + e->src_off, sc->v + s0, len * sizeof(uint32_t)) == 0) {
        int rc = v_reserve(sc, e->res_len);
        if (rc < 0)
            return rc;
        memcpy(sc->v + sc->n, gm->memo_words.v + e->res_off, e->res_len * sizeof(uint32_t));
        sc->n += e->res_len;
        return 0;
    }
    uint32_t r0 = sc->n;
    int rc = accept_cp(gm, sc, s0, s1, cp, sc);
    if (rc < 0 || !e)
        return rc;
    uint32_t rlen = sc->n - r0;
    struct u32v *mw = &gm->memo_words;
    if (mw->n + len + rlen > GM_MEMO_WORDS || v_reserve(mw, len + rlen) < 0)
        return 0; /* full: this one is not remembered */
    *e = (struct gm_memo){.key = key, .cp = cp, .src_off = mw->n, .src_len = len, .res_off = mw->n + len,
                          .res_len = rlen};
    memcpy(mw->v + mw->n, sc->v + s0, len * sizeof(uint32_t));
    memcpy(mw->v + mw->n + len, sc->v + r0, rlen * sizeof(uint32_t));
    mw->n += len + rlen;
    return 0;
}

/* The mask: the sorted vocabulary walked as a trie. Each level holds the set after a
 * prefix that ends on a code point boundary; a token reuses the levels of the prefix it
 * shares with the one before it, and a prefix that no stack takes rejects every token after
 * it that shares it. Every token is read behind the unfinished code point of the last one
 * (gm->partial), a prefix all of them share. */
static void walk_vocab(struct llm_gmatch *gm)
{
    const struct llm_gvocab *v = gm->v;
    struct u32v *sc = &gm->scratch;
    uint32_t lv_depth[GV_PIECE_MAX + 1], lv_start[GV_PIECE_MAX + 1], lv_end[GV_PIECE_MAX + 1];
    uint32_t lv_hash[GV_PIECE_MAX + 1];
    if (!gm->memo)
        gm->memo = malloc(GM_MEMO_N * sizeof *gm->memo); /* without it the walk just runs unremembered */
    if (gm->memo)
        memset(gm->memo, 0, GM_MEMO_N * sizeof *gm->memo);
    gm->memo_words.n = 0;
    sc->n = 0;
    if (v_reserve(sc, gm->cur.n) < 0)
        return;
    memcpy(sc->v, gm->cur.v, gm->cur.n * sizeof *sc->v);
    sc->n = gm->cur.n;
    int nl = 1;
    lv_depth[0] = 0;
    lv_start[0] = 0;
    lv_end[0] = sc->n;
    lv_hash[0] = set_hash(sc->v, sc->n);
    uint32_t dead = UINT32_MAX, np = (uint32_t)gm->n_partial;
    uint8_t p[GV_PIECE_MAX + 4];
    memcpy(p, gm->partial, np);
    for (int k = 0; k < v->n_order; k++) {
        int32_t id = v->order[k];
        uint32_t l = v->lcp[k] + np, n = v->len[id] + np;
        if (dead != UINT32_MAX && l >= dead)
            continue;
        dead = UINT32_MAX;
        while (lv_depth[nl - 1] > l)
            nl--;
        sc->n = lv_end[nl - 1];
        uint32_t d = lv_depth[nl - 1];
        int ok = 1;
        memcpy(p + np, v->bytes + v->off[id], v->len[id]);
        while (d < n) {
            size_t c = utf8_seq_len(p + d, n - d);
            uint32_t lo, hi;
            if (c == 0) {
                ok = n - d < 4 && partial_range(p + d, n - d, &lo, &hi) &&
                     partial_ok(gm, sc, lv_start[nl - 1], lv_end[nl - 1], lo, hi);
                break;
            }
            uint32_t cp, s0 = sc->n;
            utf8_decode((const char *)p + d, c, &cp);
            if (walk_step(gm, sc, lv_start[nl - 1], lv_end[nl - 1], lv_hash[nl - 1], cp) < 0) {
                sc->n = s0;
                ok = 0; /* over a cap: this token is not offered */
                break;
            }
            if (sc->n == s0) {
                ok = 0;
                dead = d + (uint32_t)c;
                break;
            }
            lv_depth[nl] = d + (uint32_t)c;
            lv_start[nl] = s0;
            lv_end[nl] = sc->n;
            lv_hash[nl] = set_hash(sc->v + s0, sc->n - s0);
            nl++;
            d += (uint32_t)c;
        }
        if (ok)
            gm->ok[id] = 1;
    }
}

static int same_grammar(const struct llm_grammar *a, const struct llm_grammar *b)
{
    return a == b || (a->n_el == b->n_el && a->n_rules == b->n_rules && a->root == b->root &&
                      memcmp(a->el, b->el, a->n_el * sizeof *a->el) == 0 &&
                      memcmp(a->rule_start, b->rule_start, a->n_rules * sizeof *a->rule_start) == 0);
}

/* Whether e holds the mask of gm's state (hash h); g: the grammar a shared entry must be
 * for (NULL in a matcher's own cache). */
static int cached_is(const struct gm_cached *e, const struct llm_gmatch *gm, uint64_t h, const struct llm_grammar *g)
{
    return e->hash == h && e->n_words == gm->cur.n && e->n_partial == gm->n_partial &&
           memcmp(e->partial, gm->partial, (size_t)gm->n_partial) == 0 &&
           memcmp(e->words, gm->cur.v, gm->cur.n * 4u) == 0 && (!g || (e->g && same_grammar(e->g, g)));
}

/* Remembers gm's current mask (gm->ok) in e; without memory it is simply not remembered.
 * g: a grammar to hold a reference to (shared entries), or NULL. */
static void cached_store(struct gm_cached *e, const struct llm_gmatch *gm, uint64_t h, struct llm_grammar *g)
{
    if (gm->cur.n > GM_CACHE_WORDS)
        return;
    if (!e->ok)
        e->ok = malloc((size_t)gm->v->n);
    if (!e->words)
        e->words = malloc(GM_CACHE_WORDS * sizeof *e->words);
    if (!e->ok || !e->words)
        return;
    e->hash = h;
    e->n_words = gm->cur.n;
    e->n_partial = gm->n_partial;
    memcpy(e->partial, gm->partial, sizeof e->partial);
    memcpy(e->words, gm->cur.v, gm->cur.n * 4u);
    memcpy(e->ok, gm->ok, (size_t)gm->v->n);
    if (e->g != g) {
        llm_grammar_unref(e->g);
        e->g = g ? llm_grammar_ref(g) : NULL;
    }
}

int llm_gmask_cache_new(int n_vocab, struct llm_gmask_cache **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return INFERD_ENOMEM;
    (*out)->n_vocab = n_vocab;
    return 0;
}

void llm_gmask_cache_free(struct llm_gmask_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < GM_SHARED_N; i++) {
        free(c->e[i].words);
        free(c->e[i].ok);
        llm_grammar_unref(c->e[i].g);
    }
    free(c);
}

void llm_gmatch_share(struct llm_gmatch *gm, struct llm_gmask_cache *c)
{
    gm->shared = c && c->n_vocab == gm->v->n ? c : NULL;
}

int llm_gmatch_mask(struct llm_gmatch *gm, float *logits)
{
    const struct llm_gvocab *v = gm->v;
    int can_end = llm_gmatch_can_end(gm), allowed = 0;
    memset(gm->ok, 0, (size_t)v->n);
    {
        uint64_t h = 1469598103934665603ull; /* FNV-1a over the set's words and the partial bytes */
        for (uint32_t i = 0; i < gm->cur.n; i++)
            h = (h ^ gm->cur.v[i]) * 1099511628211ull;
        for (int i = 0; i < gm->n_partial; i++)
            h = (h ^ (0x100u | gm->partial[i])) * 1099511628211ull;
        h |= 1;
        struct gm_cached *hit = NULL;
        for (int i = 0; i < GM_CACHE_N && !hit; i++)
            if (cached_is(&gm->cache[i], gm, h, NULL))
                hit = &gm->cache[i];
        for (int i = 0; gm->shared && i < GM_SHARED_N && !hit; i++)
            if (cached_is(&gm->shared->e[i], gm, h, gm->g))
                hit = &gm->shared->e[i];
        if (hit) {
            memcpy(gm->ok, hit->ok, (size_t)v->n);
        } else {
            walk_vocab(gm);
            cached_store(&gm->cache[gm->cache_next], gm, h, NULL);
            gm->cache_next = (gm->cache_next + 1) % GM_CACHE_N;
            if (gm->shared) {
                cached_store(&gm->shared->e[gm->shared->next], gm, h, (struct llm_grammar *)gm->g);
                gm->shared->next = (gm->shared->next + 1) % GM_SHARED_N;
            }
        }
    }
    for (int i = 0; i < v->n; i++) {
        int ok = v->eog[i] ? can_end : gm->ok[i];
        if (ok)
            allowed++;
        else
            logits[i] = -INFINITY;
    }
    return allowed;
}

int llm_gmatch_new(const struct llm_grammar *g, const struct llm_gvocab *v, struct llm_gmatch **out,
                   struct inferd_err *err)
{
    *out = NULL;
    struct llm_gmatch *gm = calloc(1, sizeof *gm);
    if (!gm)
        return inferd_err_set(err, INFERD_ENOMEM, "grammar: out of memory");
    gm->g = g;
    gm->v = v;
    gm->ok = malloc((size_t)(v->n > 0 ? v->n : 1));
    int rc = gm->ok && v_reserve(&gm->tmp, 1) == 0 ? 0 : INFERD_ENOMEM;
    if (rc == 0) { /* the start: the root rule's reference, expanded */
        /* one stack per alternative of root, each expanded */
        gm->budget = GM_EXPAND_MAX;
        uint32_t a = g->rule_start[g->root];
        for (;;) {
            gm->tmp.n = 0;
            if (!gel_is_end(g->el[a].type))
                gm->tmp.v[gm->tmp.n++] = a;
            rc = expand(gm, &gm->cur, 0, 0, gm->tmp.n, 0);
            if (rc < 0)
                break;
            while (!gel_is_end(g->el[a].type))
                a++;
            if (g->el[a].type == GEL_END)
                break;
            a++;
        }
        gm->tmp.n = 0;
    }
    if (rc < 0) {
        llm_gmatch_free(gm);
        return inferd_err_set(err, rc, rc == INFERD_ENOMEM ? "grammar: out of memory"
                                                           : "grammar: the start needs over %d stacks", GM_STACKS_MAX);
    }
    *out = gm;
    return 0;
}

void llm_gmatch_free(struct llm_gmatch *gm)
{
    if (!gm)
        return;
    free(gm->cur.v);
    free(gm->a.v);
    free(gm->b.v);
    free(gm->tmp.v);
    free(gm->scratch.v);
    free(gm->seen.v);
    free(gm->memo);
    free(gm->memo_words.v);
    free(gm->ok);
    for (int i = 0; i < GM_CACHE_N; i++) {
        free(gm->cache[i].words);
        free(gm->cache[i].ok);
    }
    free(gm);
}

/* ---------------- the token table ---------------- */

struct sort_ent {
    const char *p;
    uint32_t len;
    int32_t id;
};

static int cmp_piece(const void *pa, const void *pb)
{
    const struct sort_ent *a = pa, *b = pb;
    int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : (a->id > b->id) - (a->id < b->id);
}

static int gvocab_finish(struct llm_gvocab *v, struct inferd_err *err)
{
    v->order = malloc(sizeof *v->order * (size_t)(v->n ? v->n : 1));
    v->lcp = malloc(sizeof *v->lcp * (size_t)(v->n ? v->n : 1));
    if (!v->order || !v->lcp)
        return inferd_err_set(err, INFERD_ENOMEM, "grammar: out of memory");
    struct sort_ent *e = malloc(sizeof *e * (size_t)(v->n ? v->n : 1));
    if (!e)
        return inferd_err_set(err, INFERD_ENOMEM, "grammar: out of memory");
    int m = 0;
    for (int i = 0; i < v->n; i++)
        if (v->len[i] > 0 && !v->eog[i])
            e[m++] = (struct sort_ent){v->bytes + v->off[i], v->len[i], i};
    qsort(e, (size_t)m, sizeof *e, cmp_piece);
    for (int k = 0; k < m; k++)
        v->order[k] = e[k].id;
    v->n_order = m;
    free(e);
    for (int k = 0; k < v->n_order; k++) {
        uint16_t l = 0;
        if (k > 0) {
            int32_t a = v->order[k - 1], b = v->order[k];
            const char *pa = v->bytes + v->off[a], *pb = v->bytes + v->off[b];
            while (l < v->len[a] && l < v->len[b] && pa[l] == pb[l])
                l++;
        }
        v->lcp[k] = l;
    }
    return 0;
}

static int gvocab_alloc(struct llm_gvocab **out, int n, size_t total, struct inferd_err *err)
{
    struct llm_gvocab *v = calloc(1, sizeof *v);
    if (!v)
        return inferd_err_set(err, INFERD_ENOMEM, "grammar: out of memory");
    v->n = n;
    v->bytes = malloc(total ? total : 1);
    v->off = calloc((size_t)(n ? n : 1), sizeof *v->off);
    v->len = calloc((size_t)(n ? n : 1), sizeof *v->len);
    v->eog = calloc((size_t)(n ? n : 1), 1);
    *out = v;
    if (!v->bytes || !v->off || !v->len || !v->eog)
        return inferd_err_set(err, INFERD_ENOMEM, "grammar: out of memory");
    return 0;
}

int llm_gvocab_from_pieces(const char *const *pieces, const size_t *lens, const uint8_t *eog, int n,
                           struct llm_gvocab **out, struct inferd_err *err)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += lens[i] < GV_PIECE_MAX ? lens[i] : 0;
    struct llm_gvocab *v;
    int rc = gvocab_alloc(&v, n, total, err);
    size_t at = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        v->off[i] = (uint32_t)at;
        v->eog[i] = eog ? eog[i] : 0;
        if (lens[i] >= GV_PIECE_MAX)
            continue; /* could be cut by the caller's piece buffer: never offered */
        memcpy(v->bytes + at, pieces[i], lens[i]);
        v->len[i] = (uint16_t)lens[i];
        at += lens[i];
    }
    if (rc == 0)
        rc = gvocab_finish(v, err);
    if (rc < 0) {
        llm_gvocab_free(v);
        *out = NULL;
        return rc;
    }
    *out = v;
    return 0;
}

int llm_gvocab_new(const struct inferd_llm_model *m, struct llm_gvocab **out, struct inferd_err *err)
{
    int n = inferd_llm_info(m)->n_vocab;
    char piece[GV_PIECE_MAX];
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int l = inferd_llm_token_to_piece(m, i, piece, sizeof piece);
        total += l > 0 && l < GV_PIECE_MAX ? (size_t)l : 0;
    }
    struct llm_gvocab *v;
    int rc = gvocab_alloc(&v, n, total, err);
    size_t at = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        int l = inferd_llm_token_to_piece(m, i, piece, sizeof piece);
        v->off[i] = (uint32_t)at;
        v->eog[i] = (uint8_t)inferd_llm_token_is_eog(m, i);
        if (l <= 0 || l >= GV_PIECE_MAX || v->eog[i])
            continue;
        memcpy(v->bytes + at, piece, (size_t)l);
        v->len[i] = (uint16_t)l;
        at += (size_t)l;
    }
    if (rc == 0)
        rc = gvocab_finish(v, err);
    if (rc < 0) {
        llm_gvocab_free(v);
        *out = NULL;
        return rc;
    }
    *out = v;
    return 0;
}

void llm_gvocab_free(struct llm_gvocab *v)
{
    if (!v)
        return;
    free(v->bytes);
    free(v->off);
    free(v->len);
    free(v->eog);
    free(v->order);
    free(v->lcp);
    free(v);
}
