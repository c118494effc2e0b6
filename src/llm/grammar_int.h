/* grammar_int.h — the parsed form of a GBNF grammar shared by grammar.c (parser) and
 * grammar_match.c (matcher): llama.cpp's element encoding.
 *
 * Every rule is a run of elements in el[], starting at rule_start[id]: alternatives of
 * element sequences separated by GEL_ALT, the last one closed by GEL_END. A character
 * class is one GEL_CHAR (or GEL_CHAR_NOT) element followed by GEL_CHAR_ALT elements for
 * more characters; a GEL_CHAR_RNG_UPPER after any of them makes that one a range.
 *
 *   rule ::= "a" [x-z] | other      ->  CHAR 'a', CHAR 'x', RNG_UPPER 'z', ALT, RULE_REF other, END
 */
#ifndef INFERD_LLM_GRAMMAR_INT_H
#define INFERD_LLM_GRAMMAR_INT_H

#include <stdatomic.h>
#include <stdint.h>

enum gel_type {
    GEL_END = 0,          /* end of a rule */
    GEL_ALT,              /* start of another alternative */
    GEL_RULE_REF,         /* value: rule id */
    GEL_CHAR,             /* value: code point (first of a class) */
    GEL_CHAR_NOT,         /* value: code point (first of a negated class) */
    GEL_CHAR_RNG_UPPER,   /* value: upper bound of the range begun by the element before */
    GEL_CHAR_ALT,         /* value: another code point of the class */
    GEL_CHAR_ANY,         /* any code point */
};

struct gel {
    uint32_t type;        /* enum gel_type */
    uint32_t value;
};

struct llm_grammar {
    atomic_int refs;
    struct gel *el;       /* owned, n_el */
    uint32_t n_el;
    uint32_t *rule_start; /* owned, n_rules: where each rule begins in el */
    uint32_t n_rules;
    uint32_t root;        /* id of the start rule */
};

static inline int gel_is_end(uint32_t t) { return t == GEL_END || t == GEL_ALT; }
static inline int gel_is_char(uint32_t t)
{
    return t == GEL_CHAR || t == GEL_CHAR_NOT || t == GEL_CHAR_ANY;
}

#endif
