"""test_llm_grammar.py — constrained decoding end to end: OpenAI's response_format
(json_object, json_schema with objects, arrays with min/max items, enums, anyOf, integers,
booleans, null, nested objects, required vs optional, $ref recursion), llama.cpp's `grammar`
(GBNF) and `json_schema` members, Ollama's `format`, streaming, and the 400s of bad
grammars and schemas. The models are a random-weight llama with LLaMA-2's 32000-token
vocabulary (its unconstrained output is gibberish: a good adversary) and the tiny trained
aidreams260K; every answer that ends must parse and validate against its schema.
"""
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, skip, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
LLM = os.path.join(SHARED, "testdata", "llm")
MODELS = {"tiny": os.path.join(LLM, "llama-2-tiny-random.gguf"), "aid": os.path.join(LLM, "aidreams260K.gguf")}
# Above the longest document any schema below allows at one byte a token; the recursive one
# has no bound, but a chain (maxItems 1, kids optional) 100 levels deep is vanishingly rare.
MAX_TOKENS = 1500
SANITIZED = os.environ.get("INFERD_SANITIZED") == "1"
OBJ_TOKENS = 60 if SANITIZED else 300  # json_object answers are unbounded: cut at this many


def post(s, path, obj):
    """POST with a generous timeout: a sanitized build on a loaded machine is slow."""
    return s.request("POST", path, body=json.dumps(obj), headers={"Content-Type": "application/json"}, timeout=600)


def validate(doc, schema, root=None, path="$"):
    """A small JSON Schema validator for the subset the grammar compiler supports. Returns a
    list of problems (empty when doc is valid)."""
    root = schema if root is None else root
    if schema is True or schema == {}:
        return []
    if "$ref" in schema:
        ref = schema["$ref"]
        target = root if ref == "#" else root[ref.split("/")[1]][ref.split("/")[2]]
        return validate(doc, target, root, path)
    if "const" in schema:
        return [] if doc == schema["const"] and type(doc) is type(schema["const"]) else ["%s: not const" % path]
    if "enum" in schema:
        ok = any(doc == e and type(doc) is type(e) for e in schema["enum"])
        return [] if ok else ["%s: %r not in enum" % (path, doc)]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            hits = [s for s in schema[key] if not validate(doc, s, root, path)]
            if not hits or (key == "oneOf" and len(hits) != 1):
                return ["%s: %r matches %d of %s" % (path, doc, len(hits), key)]
            return []
    types = schema.get("type")
    if types is None:
        types = "object" if "properties" in schema else "array" if "items" in schema else None
    if types is None:
        return []
    if isinstance(types, list):
        errs = [validate(doc, dict(schema, type=t), root, path) for t in types]
        return [] if any(not e for e in errs) else ["%s: %r is none of %s" % (path, doc, types)]
    checks = {"object": lambda: isinstance(doc, dict), "array": lambda: isinstance(doc, list),
              "string": lambda: isinstance(doc, str), "boolean": lambda: isinstance(doc, bool),
              "null": lambda: doc is None,
              "integer": lambda: isinstance(doc, int) and not isinstance(doc, bool),
              "number": lambda: isinstance(doc, (int, float)) and not isinstance(doc, bool)}
    if not checks[types]():
        return ["%s: %r is not %s" % (path, doc, types)]
    errs = []
    if types == "object":
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in doc:
                errs.append("%s: required %s missing" % (path, k))
        for k, v in doc.items():
            if k in props:
                errs += validate(v, props[k], root, path + "." + k)
            elif schema.get("additionalProperties") is False:
                errs.append("%s: extra member %s" % (path, k))
    elif types == "array":
        if len(doc) < schema.get("minItems", 0) or len(doc) > schema.get("maxItems", 1 << 30):
            errs.append("%s: %d items" % (path, len(doc)))
        for i, v in enumerate(doc):
            errs += validate(v, schema.get("items", True), root, "%s[%d]" % (path, i))
    elif types == "string":
        if len(doc) < schema.get("minLength", 0) or len(doc) > schema.get("maxLength", 1 << 30):
            errs.append("%s: length %d" % (path, len(doc)))
    return errs


S = {"type": "string", "maxLength": 8}
SCHEMAS = [
    {"type": "object", "properties": {"name": S, "age": {"type": "integer"}}, "required": ["name", "age"],
     "additionalProperties": False},
    {"type": "object", "properties": {"ok": {"type": "boolean"}, "none": {"type": "null"},
                                      "score": {"type": "number"}}, "required": ["ok", "none", "score"]},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": S, "c": {"type": "boolean"},
                                      "d": {"type": "null"}}, "required": ["c"]},  # optional members
    {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4},
    {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "minItems": 1, "maxItems": 3},
    {"type": "object", "properties": {"color": {"enum": ["red", "green", 3, None, True]},
                                      "kind": {"const": "fixed"}}, "required": ["color", "kind"]},
    {"type": "object", "properties": {"v": {"anyOf": [{"type": "integer"}, S, {"type": "null"}]},
                                      "w": {"type": ["boolean", "null"]}}, "required": ["v", "w"]},
    {"type": "object", "properties": {"user": {"type": "object", "properties": {
        "id": {"type": "integer"}, "tags": {"type": "array", "items": S, "maxItems": 2},
        "address": {"type": "object", "properties": {"city": S, "zip": {"type": "integer"}},
                    "required": ["city", "zip"]}}, "required": ["id", "tags", "address"]}},
     "required": ["user"]},
    {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {
        "type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 1}}, "required": ["v"]}},
     "type": "object", "properties": {"tree": {"$ref": "#/$defs/node"}}, "required": ["tree"]},
    {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                                "required": ["x", "y"]}, "minItems": 1, "maxItems": 3},
    {"type": "integer"},
    {"type": "boolean"},
    {"enum": ["yes", "no"]},
]


def chat(s, model, body):
    b = {"model": model, "messages": [{"role": "user", "content": "Give me JSON."}], "max_tokens": MAX_TOKENS}
    b.update(body)
    return post(s, "/v1/chat/completions", b)


def main():
    if not all(os.path.exists(p) for p in MODELS.values()):
        skip("llama-2-tiny-random.gguf or aidreams260K.gguf is absent")
    t = Checker()
    root = tempfile.mkdtemp(prefix="inferd-grammar-")
    for name, path in MODELS.items():
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(path, os.path.join(root, name, "1", "model.gguf"))
        write_json(os.path.join(root, name, "config.json"), {"context_size": 8192, "parallel": 4})
    with Server(root, "--threads", "2") as s:
        # -- json_schema through response_format: every answer ends and validates --
        for i, schema in enumerate(SCHEMAS):
            for model in ("tiny", "aid"):
                for seed in (1, 2):
                    r = chat(s, model, {"temperature": 1.0, "seed": seed, "response_format": {
                        "type": "json_schema", "json_schema": {"name": "s%d" % i, "strict": True, "schema": schema}}})
                    if not t.check(r.status == 200, "schema %d %s seed %d: %r" % (i, model, seed, r)):
                        continue
                    ch = r.json()["choices"][0]
                    text = ch["message"]["content"]
                    t.check(ch["finish_reason"] == "stop", "schema %d %s seed %d ends (%s): %r" %
                            (i, model, seed, ch["finish_reason"], text[:200]))
                    try:
                        doc = json.loads(text)
                    except ValueError:
                        t.check(False, "schema %d %s seed %d: not JSON: %r" % (i, model, seed, text[:300]))
                        continue
                    errs = validate(doc, schema)
                    t.check(not errs, "schema %d %s seed %d: %r invalid: %s" % (i, model, seed, text[:300], errs))

        # -- json_object: an object when it ends; an unfinished one says "length" --
        ended = 0
        for model in ("tiny", "aid"):
            for seed in range(1, 5):
                r = post(s, "/v1/completions", {"model": model, "prompt": "Once upon a time", "seed": seed,
                                                    "temperature": 1.0, "max_tokens": OBJ_TOKENS,
                                                    "response_format": {"type": "json_object"}})
                if not t.check(r.status == 200, "json_object %s %d: %r" % (model, seed, r)):
                    continue
                ch = r.json()["choices"][0]
                if ch["finish_reason"] == "stop":
                    ended += 1
                    try:
                        t.check(isinstance(json.loads(ch["text"]), dict), "json_object %r" % ch["text"])
                    except ValueError:
                        t.check(False, "json_object answer is not JSON: %r" % ch["text"][:300])
                else:
                    t.check(ch["finish_reason"] == "length" and r.json()["usage"]["completion_tokens"] == OBJ_TOKENS,
                            "json_object cut by max_tokens says length: %r" % r.json())
        t.check(ended > 0, "some json_object answers end (%d)" % ended)

        # -- several choices (n, best_of, echo) are constrained too: every one validates --
        schema = SCHEMAS[1]
        for extra in ({"n": 3}, {"n": 2, "best_of": 3}, {"echo": True}):
            body = {"model": "tiny", "prompt": "P:", "seed": 5, "temperature": 1.0, "max_tokens": MAX_TOKENS,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}}
            body.update(extra)
            r = post(s, "/v1/completions", body)
            if not t.check(r.status == 200, "%r: %r" % (extra, r)):
                continue
            chs = r.json()["choices"]
            t.check(len(chs) == extra.get("n", 1), "%r: %d choices" % (extra, len(chs)))
            for ch in chs:
                text = ch["text"][len("P:"):] if extra.get("echo") else ch["text"]
                try:
                    errs = validate(json.loads(text), schema)
                except ValueError:
                    errs = ["not JSON"]
                t.check(ch["finish_reason"] == "stop" and not errs,
                        "%r: choice %d valid (%s): %r %s" % (extra, ch["index"], ch["finish_reason"], text[:200], errs))
        # logit_bias that forces a token the grammar refuses: a clear error, not a broken document
        r = post(s, "/v1/completions", {"model": "aid", "prompt": "x", "max_tokens": 20, "temperature": 1.0,
                                            "seed": 1, "logit_bias": {"5": 100},
                                            "grammar": 'root ::= "0" | "1"'})
        t.check(r.status == 400 and "logit_bias leaves no token the grammar allows" in r.body.decode(),
                "logit_bias +100 on a token the grammar refuses: 400: %r" % r)

        # -- llama.cpp's grammar member on /v1/completions, and json_schema --
        g = 'root ::= answer " " [0-9]{1,3} ("!" | "?")?\nanswer ::= "yes" | "no" # a comment\n'
        for seed in range(1, 6):
            r = post(s, "/v1/completions", {"model": "tiny", "prompt": "Is it?", "grammar": g, "seed": seed,
                                                "temperature": 1.0, "max_tokens": 50})
            if t.check(r.status == 200, "grammar completion: %r" % r):
                ch = r.json()["choices"][0]
                t.check(re.fullmatch(r"(yes|no) [0-9]{1,3}[!?]?", ch["text"]) is not None and
                        ch["finish_reason"] == "stop", "grammar output %r (%s)" % (ch["text"], ch["finish_reason"]))
        r = post(s, "/v1/completions", {"model": "tiny", "prompt": "x", "max_tokens": 50, "temperature": 0,
                                            "json_schema": {"enum": ["alpha", "beta"]}})
        t.check(r.status == 200 and r.json()["choices"][0]["text"] in ('"alpha"', '"beta"'), "json_schema %r" % r)
        # a grammar whose text needs bytes that only byte tokens give (partial UTF-8 across tokens)
        r = post(s, "/v1/completions", {"model": "tiny", "prompt": "x", "max_tokens": 50, "temperature": 1.0,
                                            "seed": 7, "grammar": 'root ::= "\u00e9\u4e2d\U0001F600" [\u00e0-\u00ff]'})
        t.check(r.status == 200 and re.fullmatch("\u00e9\u4e2d\U0001F600[\u00e0-\u00ff]", r.json()["choices"][0]["text"])
                is not None, "non-ASCII grammar %r" % r)

        # -- streaming: the deltas join into a valid document --
        schema = SCHEMAS[7]
        body = {"model": "tiny", "messages": [{"role": "user", "content": "x"}], "stream": True, "seed": 3,
                "temperature": 1.0, "max_tokens": MAX_TOKENS,
                "response_format": {"type": "json_schema", "json_schema": {"name": "u", "schema": schema}}}
        r = post(s, "/v1/chat/completions", body)
        text, finish = "", None
        for block in r.body.decode().split("\n\n"):
            if block.startswith("data: {"):
                for ch in json.loads(block[6:])["choices"]:
                    text += ch["delta"].get("content") or ""
                    finish = ch.get("finish_reason") or finish
        try:
            t.check(finish == "stop" and not validate(json.loads(text), schema), "streamed %r" % text[:300])
        except ValueError:
            t.check(False, "streamed answer is not JSON: %r" % text[:300])

        # -- Ollama's format: "json" and a schema --
        for fmt in ("json", SCHEMAS[0]):
            r = post(s, "/api/chat", {"model": "tiny", "messages": [{"role": "user", "content": "x"}],
                                          "format": fmt, "stream": False,
                                          "options": {"seed": 2, "temperature": 1.0, "num_predict": MAX_TOKENS}})
            if not t.check(r.status == 200, "ollama format %r: %r" % (fmt, r)):
                continue
            d = r.json()
            try:
                doc = json.loads(d["message"]["content"])
                ok = isinstance(doc, dict) if fmt == "json" else not validate(doc, fmt)
            except ValueError:
                ok = d.get("done_reason") == "length" and fmt == "json"
            t.check(ok, "ollama format %r: %r" % (fmt, d["message"]["content"][:300]))
        r = post(s, "/api/generate", {"model": "tiny", "prompt": "x", "format": "yaml", "stream": False})
        t.check(r.status == 400 and "format" in r.json().get("error", ""), "ollama bad format %r" % r)

        # -- bad grammars and schemas: 400 naming the member, the position and the reason --
        for body, param, words in (
                ({"grammar": "root ::= \"a"}, "grammar", "line 1 col 12: unterminated literal"),
                ({"grammar": "root ::= x"}, "grammar", "rule x is used but not defined"),
                ({"grammar": "root ::= root \"a\""}, "grammar", "left-recursive"),
                ({"grammar": 7}, "grammar", "must be a string"),
                ({"response_format": {"type": "xml"}}, "response_format", "json_schema"),
                ({"response_format": {"type": "json_schema"}}, "response_format", "json_schema: required"),
                ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
                    "type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}}}}},
                 "response_format", "properties.a: pattern: not supported"),
                ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
                    "type": "object", "properties": {"a": {"type": "strin"}}}}}},
                 "response_format", "properties.a: type: \"strin\""),
                ({"response_format": {"type": "json_object"}, "grammar": "root ::= \"a\""}, "response_format",
                 "at most one")):
            r = chat(s, "tiny", body)
            err = r.json().get("error", {}) if r.body else {}
            t.check(r.status == 400 and err.get("param") == param and words in err.get("message", ""),
                    "bad %r -> %r" % (body, r))
        # the server still serves
        r = chat(s, "tiny", {"response_format": {"type": "json_schema", "json_schema": {
            "name": "b", "schema": {"type": "boolean"}}}, "temperature": 0})
        t.check(r.status == 200 and r.json()["choices"][0]["message"]["content"] in ("true", "false"),
                "still serving %r" % r)
    t.finish()


if __name__ == "__main__":
    main()
