/* json_schema.h — JSON Schema (the subset OpenAI's structured outputs use) compiled to a
 * GBNF grammar (llm/grammar.h) whose every match is a JSON document valid under the schema.
 *
 * Supported: type (one or a list), object (properties in their declared order, required vs
 * optional, no other members; without properties, additionalProperties as the schema of
 * every value of a map), array (items, minItems, maxItems), string (minLength,
 * maxLength), number, integer, boolean, null, enum, const, anyOf / oneOf, $ref to
 * "#/$defs/..." or "#/definitions/..." (recursion included), and {} / true for any value.
 * Keywords that constrain values in ways the grammar does not enforce (pattern, minimum,
 * multipleOf, uniqueItems, not, ...) are refused, so that what is generated always
 * validates; annotations (title, description, format, default, ...) are ignored.
 *
 * Bounds that keep output finite: whitespace between tokens is at most one space; integers
 * have at most 16 digits, fractions 16 and exponents 2 (every number is a finite double).
 *
 *   struct buf g; buf_init(&g, LLM_GRAMMAR_TEXT_MAX);
 *   if (llm_json_schema_gbnf(schema, &g, &err) < 0) ... 400 with err.msg ("properties.age: ...")
 *   llm_grammar_parse(g.data, g.len, "root", &grammar, &err);  buf_free(&g);
 */
#ifndef INFERD_LLM_JSON_SCHEMA_H
#define INFERD_LLM_JSON_SCHEMA_H

#include <jansson.h>

#include "base/buf.h"
#include "inferd/err.h"

#define LLM_SCHEMA_DEPTH_MAX 32   /* nested schemas */

/* Appends the GBNF of schema (borrowed; its root is where $refs resolve) to out, start
 * rule "root". Returns 0, or INFERD_EINVAL / INFERD_EUNSUPPORTED / INFERD_ETOOLARGE with
 * err naming the schema path and the reason. */
int llm_json_schema_gbnf(const json_t *schema, struct buf *out, struct inferd_err *err);
/* Appends the GBNF of any JSON object (OpenAI's json_object mode), start rule "root". */
void llm_json_object_gbnf(struct buf *out);

#endif
