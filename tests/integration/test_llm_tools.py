"""test_llm_tools.py — OpenAI tool calling on the ChatML (Hermes / Qwen 2.5) and Llama 3.1
templates (Mistral and Ollama's /api/chat: test_llm_tools_more.py):
tools rendered into the system turn, assistant tool_calls and tool results rendered as
Qwen 2.5's template writes them (checked by token count against /tokenize of the expected
text), tool_choice "required" and named forced by the grammar on a random-weight model (its
free output is gibberish: every forced call must parse and its arguments validate),
streamed tool_call deltas (a head, then the arguments in pieces) that join into the same
call, "auto" and "none" answers that are well-formed either way, and the 400s (bad tools,
tool_choice, tool messages, a template without tool calling).
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, skip, write_json  # noqa: E402
from test_llm_grammar import validate  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
TINY = os.path.join(SHARED, "testdata", "llm", "llama-2-tiny-random.gguf")
MAX_TOKENS = 1500

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 12},
        "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["city", "unit"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {
        "zone": {"type": "string", "maxLength": 8}}, "required": ["zone"]}}}
SCHEMAS = {"get_weather": WEATHER["function"]["parameters"], "get_time": TIME["function"]["parameters"]}


def post(s, obj):
    return s.request("POST", "/v1/chat/completions", body=json.dumps(obj),
                     headers={"Content-Type": "application/json"}, timeout=600)


def chat(s, model, extra):
    b = {"model": model, "messages": [{"role": "user", "content": "Weather in Paris?"}], "max_tokens": MAX_TOKENS,
         "temperature": 1.0}
    b.update(extra)
    return post(s, b)


def check_call(t, call, names, what):
    """call is a well-formed tool call of one of names whose arguments validate."""
    ok = (isinstance(call.get("id"), str) and call["id"].startswith("call_") and call.get("type") == "function"
          and call["function"]["name"] in names and isinstance(call["function"]["arguments"], str))
    if not t.check(ok, "%s: malformed call %r" % (what, call)):
        return
    try:
        args = json.loads(call["function"]["arguments"])
    except ValueError:
        t.check(False, "%s: arguments are not JSON: %r" % (what, call))
        return
    errs = validate(args, SCHEMAS[call["function"]["name"]])
    t.check(not errs, "%s: arguments %r: %s" % (what, args, errs))


def stream_calls(r):
    """The tool calls of an SSE answer as OpenAI clients join them: a head delta (index, id,
    type, name, "" arguments), then argument pieces. Returns (calls by index with "pieces"
    counted and "head_ok", finish_reason, content)."""
    calls, content, finish = {}, "", None
    for block in r.body.decode().split("\n\n"):
        if block.startswith("data: {"):
            for ch in json.loads(block[6:])["choices"]:
                content += ch["delta"].get("content") or ""
                finish = ch.get("finish_reason") or finish
                for d in ch["delta"].get("tool_calls") or []:
                    fn = d.get("function") or {}
                    if d["index"] not in calls:
                        calls[d["index"]] = {"id": d.get("id"), "name": fn.get("name") or "", "arguments": "",
                                             "pieces": 0, "head_ok": d.get("type") == "function"}
                    c = calls[d["index"]]
                    if fn.get("arguments"):
                        c["arguments"] += fn["arguments"]
                        c["pieces"] += 1
    return [calls[k] for k in sorted(calls)], finish, content


def tojson(v):
    return json.dumps(v, ensure_ascii=False)


def expected_prompt(system, tools, turns):
    """Qwen2.5-7B-Instruct's template (shared/testdata/llm/templates) written out by hand."""
    out = "<|im_start|>system\n" + system + "\n\n# Tools\n\nYou may call one or more functions to assist with the " \
        "user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>"
    for tool in tools:
        out += "\n" + tojson(tool)
    out += "\n</tools>\n\nFor each function call, return a json object with function name and arguments within " \
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": " \
        "<args-json-object>}\n</tool_call><|im_end|>\n"
    return out + turns + "<|im_start|>assistant\n"


def main():
    if not os.path.exists(TINY):
        skip("llama-2-tiny-random.gguf is absent")
    t = Checker()
    root = tempfile.mkdtemp(prefix="inferd-tools-")
    for name, tmpl in (("tiny", "chatml"), ("tiny-llama2", "llama2"), ("tiny-llama31", "llama3.1")):
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(TINY, os.path.join(root, name, "1", "model.gguf"))
        write_json(os.path.join(root, name, "config.json"),
                   {"context_size": 8192, "parallel": 2, "chat_template": tmpl})
    with Server(root, "--threads", "2") as s:
        # -- required: one forced, valid call (one tool: its schema; two: any of them) --
        for tools in ([WEATHER], [WEATHER, TIME]):
            for seed in (1, 2, 3):
                r = chat(s, "tiny", {"tools": tools, "tool_choice": "required", "seed": seed})
                what = "required %d tools seed %d" % (len(tools), seed)
                if not t.check(r.status == 200, "%s: %r" % (what, r)):
                    continue
                ch = r.json()["choices"][0]
                t.check(ch["finish_reason"] == "tool_calls", "%s: finish %r" % (what, ch))
                calls = ch["message"].get("tool_calls") or []
                t.check(len(calls) == 1 and ch["message"]["content"] is None, "%s: %r" % (what, ch["message"]))
                for c in calls:
                    check_call(t, c, [x["function"]["name"] for x in tools], what)
        # -- n > 1: every choice a forced, valid call of its own (ids unique across choices) --
        r = chat(s, "tiny", {"tools": [WEATHER, TIME], "tool_choice": "required", "seed": 7, "n": 3})
        if t.check(r.status == 200 and len(r.json()["choices"]) == 3, "n=3: %r" % r):
            whole_n = {ch["index"]: ch["message"].get("tool_calls") or [] for ch in r.json()["choices"]}
            ids = []
            for ch in r.json()["choices"]:
                calls = ch["message"].get("tool_calls") or []
                t.check(ch["finish_reason"] == "tool_calls" and len(calls) == 1, "n=3 choice %r" % ch)
                for c in calls:
                    check_call(t, c, ["get_weather", "get_time"], "n=3 choice %d" % ch["index"])
                    ids.append(c["id"])
            t.check(len(set(ids)) == 3, "n=3 ids: %r" % ids)
            # streamed: each choice's calls in its own deltas, joining into that choice's call
            r = chat(s, "tiny", {"tools": [WEATHER, TIME], "tool_choice": "required", "seed": 7, "n": 3,
                                 "stream": True})
            per = {}
            for block in r.body.decode().split("\n\n"):
                if block.startswith("data: {"):
                    for ch in json.loads(block[6:])["choices"]:
                        p = per.setdefault(ch["index"], {"finish": None, "calls": {}})
                        p["finish"] = ch.get("finish_reason") or p["finish"]
                        for d in ch["delta"].get("tool_calls") or []:
                            c = p["calls"].setdefault(d["index"], {"id": None, "name": "", "arguments": ""})
                            c["id"] = d.get("id") or c["id"]
                            c["name"] += (d.get("function") or {}).get("name") or ""
                            c["arguments"] += (d.get("function") or {}).get("arguments") or ""
            t.check(sorted(per) == [0, 1, 2], "n=3 stream choices: %r" % per)
            for i, p in per.items():
                got = [(c["name"], c["arguments"]) for c in p["calls"].values()]
                want = [(w["function"]["name"], w["function"]["arguments"]) for w in whole_n.get(i, [])]
                t.check(p["finish"] == "tool_calls" and got == want and
                        all(c["id"].endswith(("_0" if i == 0 else "_c%d_0" % i)) for c in p["calls"].values()),
                        "n=3 stream choice %d: %r vs %r" % (i, p, want))

        # -- named: that function, arguments valid under its schema --
        for seed in (4, 5):
            r = chat(s, "tiny", {"tools": [WEATHER, TIME], "seed": seed,
                                 "tool_choice": {"type": "function", "function": {"name": "get_time"}}})
            if t.check(r.status == 200, "named: %r" % r):
                ch = r.json()["choices"][0]
                t.check(ch["finish_reason"] == "tool_calls", "named finish: %r" % ch)
                for c in ch["message"].get("tool_calls") or [None]:
                    t.check(c is not None and c["function"]["name"] == "get_time", "named: %r" % ch)
                    if c:
                        check_call(t, c, ["get_time"], "named seed %d" % seed)

        # -- streamed: tool_call deltas join into the call the whole answer has --
        body = {"tools": [WEATHER], "tool_choice": "required", "temperature": 0}  # greedy: streams equal
        whole = chat(s, "tiny", body).json()["choices"][0]["message"]["tool_calls"][0]
        r = chat(s, "tiny", dict(body, stream=True))
        calls, finish, content = stream_calls(r)
        t.check(finish == "tool_calls" and content == "" and len(calls) == 1, "stream: %r %r %r" %
                (finish, content, calls))
        if calls:  # the arguments came in pieces as generated, and join into the whole answer's text
            t.check(calls[0]["name"] == whole["function"]["name"] and calls[0]["pieces"] > 1 and
                    calls[0]["arguments"] == whole["function"]["arguments"] and calls[0]["head_ok"] and
                    calls[0]["id"].startswith("call_"), "stream call %r vs %r" % (calls[0], whole))

        # -- a stream cut inside the call (greedy: the same tokens as the whole answer, fewer of
        # them): finish "length", the head sent, the arguments a prefix of the whole call's --
        k = chat(s, "tiny", body).json()["usage"]["completion_tokens"]
        for m in (k - 1,):
            cut, finish, content = stream_calls(chat(s, "tiny", dict(body, stream=True, max_tokens=m)))
            ok = finish == "length" and (
                (len(cut) == 1 and cut[0]["name"] == whole["function"]["name"] and
                 whole["function"]["arguments"].startswith(cut[0]["arguments"])) or (not cut and m < k - 1))
            t.check(ok, "stream cut at %d of %d tokens: %r %r %r" % (m, k, finish, cut, content))

        # -- auto and none: a well-formed answer either way --
        for choice in ("auto", "none", None):
            extra = {"tools": [WEATHER], "seed": 9, "max_tokens": 40}
            if choice:
                extra["tool_choice"] = choice
            r = chat(s, "tiny", extra)
            if t.check(r.status == 200, "%s: %r" % (choice, r)):
                ch = r.json()["choices"][0]
                if ch["finish_reason"] == "tool_calls":
                    t.check(choice != "none", "none called a tool: %r" % ch)
                    for c in ch["message"]["tool_calls"]:
                        t.check(c["function"]["name"] and c["id"].startswith("call_"), "auto call %r" % c)
                else:
                    t.check(isinstance(ch["message"]["content"], str) and "tool_calls" not in ch["message"],
                            "%s answer %r" % (choice, ch))

        # -- rendering: a conversation with a call and its results, token for token --
        msgs = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"zone\":\"CET\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "10:00"},
                {"role": "assistant", "content": "Hmm", "tool_calls": [
                    {"id": "call_3", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_3", "content": "11:00"}]
        turns = ("<|im_start|>user\nWeather in Paris?<|im_end|>\n"
                 "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                 "{\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
                 "\"arguments\": {\"zone\": \"CET\"}}\n</tool_call><|im_end|>\n"
                 "<|im_start|>user\n<tool_response>\n18 C\n</tool_response>\n<tool_response>\n10:00\n"
                 "</tool_response><|im_end|>\n"
                 "<|im_start|>assistant\nHmm\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n"
                 "</tool_call><|im_end|>\n"
                 "<|im_start|>user\n<tool_response>\n11:00\n</tool_response><|im_end|>\n")
        text = expected_prompt("Be brief.", [WEATHER, TIME], turns)
        r = post(s, {"model": "tiny", "messages": msgs, "tools": [WEATHER, TIME], "max_tokens": 1})
        tok = s.request("POST", "/tokenize", body=json.dumps({"model": "tiny", "content": text, "add_special": True}),
                        headers={"Content-Type": "application/json"}, timeout=60)
        if t.check(r.status == 200 and tok.status == 200, "render: %r %r" % (r, tok)):
            t.check(r.json()["usage"]["prompt_tokens"] == len(tok.json()["tokens"]),
                    "rendered prompt: %d tokens, expected text has %d" % (r.json()["usage"]["prompt_tokens"],
                                                                          len(tok.json()["tokens"])))
        near = s.request("POST", "/tokenize", body=json.dumps({"model": "tiny", "content": text.replace(
            "\n</tool_response>", "</tool_response>"), "add_special": True}), headers={"Content-Type": "application/json"})
        t.check(len(near.json()["tokens"]) != len(tok.json()["tokens"]), "the token count tells renderings apart")

        # -- Llama 3.1: {"name", "parameters"} calls, tools in the first user turn, ipython results --
        for seed in (1, 2):
            for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
                r = chat(s, "tiny-llama31", {"tools": [WEATHER, TIME], "tool_choice": choice, "seed": seed})
                what = "llama3.1 %r seed %d" % (choice, seed)
                if t.check(r.status == 200, "%s: %r" % (what, r)):
                    ch = r.json()["choices"][0]
                    t.check(ch["finish_reason"] == "tool_calls" and len(ch["message"].get("tool_calls") or []) == 1,
                            "%s: %r" % (what, ch))
                    for c in ch["message"].get("tool_calls") or []:
                        check_call(t, c, ["get_weather"] if isinstance(choice, dict) else ["get_weather", "get_time"],
                                   what)
        body = {"tools": [WEATHER], "tool_choice": "required", "temperature": 0}
        whole = chat(s, "tiny-llama31", body).json()["choices"][0]["message"]["tool_calls"][0]
        r = chat(s, "tiny-llama31", dict(body, stream=True))
        got, finish, content = stream_calls(r)
        t.check(finish == "tool_calls" and len(got) == 1 and got[0]["name"] == whole["function"]["name"] and
                got[0]["arguments"] == whole["function"]["arguments"] and got[0]["pieces"] > 1,
                "llama3.1 stream: %r %r vs %r" % (finish, got, whole))
        r = chat(s, "tiny-llama31", {"tools": [WEATHER], "seed": 9, "max_tokens": 30, "stream": True})
        t.check(r.status == 200 and r.body.decode().rstrip().endswith("data: [DONE]"), "llama3.1 auto stream: %r" % r)
        lmsgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
                 {"role": "assistant", "content": None, "tool_calls": [msgs[2]["tool_calls"][0]]},
                 {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}]
        ltext = ("<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: "
                 "December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>"
                 "\n\nGiven the following functions, please respond with a JSON for a function call with its proper "
                 "arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, "
                 "\"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n" +
                 "".join(json.dumps(x, indent=4, ensure_ascii=False) + "\n\n" for x in [WEATHER, TIME]) +
                 "Weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": "
                 "\"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}<|eot_id|>"
                 "<|start_header_id|>ipython<|end_header_id|>\n\n\"18 C\"<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n")
        r = post(s, {"model": "tiny-llama31", "messages": lmsgs, "tools": [WEATHER, TIME], "max_tokens": 1})
        tok = s.request("POST", "/tokenize", body=json.dumps({"model": "tiny-llama31", "content": ltext,
                                                              "add_special": True}),
                        headers={"Content-Type": "application/json"}, timeout=60)
        if t.check(r.status == 200 and tok.status == 200, "llama3.1 render: %r %r" % (r, tok)):
            t.check(r.json()["usage"]["prompt_tokens"] == len(tok.json()["tokens"]),
                    "llama3.1 rendered prompt: %d tokens, expected text has %d" % (
                        r.json()["usage"]["prompt_tokens"], len(tok.json()["tokens"])))
        r = post(s, {"model": "tiny-llama31", "messages": msgs, "max_tokens": 1})
        t.check(r.status == 400 and r.json()["error"]["param"] == "messages[2].tool_calls", "llama3.1 two calls: %r" % r)

        # -- 400s naming the member --
        bad = [({"tools": {"x": 1}}, "tools"),
               ({"tools": [{"type": "function", "function": {"name": "has space"}}]}, "tools[0]"),
               ({"tools": [{"type": "retrieval"}]}, "tools[0]"),
               ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}, "tools[0]"),
               ({"tools": [WEATHER], "tool_choice": "always"}, "tool_choice"),
               ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
               ({"tool_choice": "required"}, "tool_choice"),
               ({"tools": [WEATHER], "tool_choice": "required", "response_format": {"type": "json_object"}},
                "tool_choice"),
               ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
                   "type": "string", "pattern": "a+"}}}], "tool_choice": "required"}, "tools[0]"),
               ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]},
                "messages[1].tool_call_id"),
               ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"type": "function"}]}]},
                "messages[0].tool_calls[0]")]
        for extra, param in bad:
            r = chat(s, "tiny", extra)
            t.check(r.status == 400 and r.json()["error"]["param"] == param, "bad %r: %r" % (extra, r))
        r = chat(s, "tiny-llama2", {"tools": [WEATHER]})
        t.check(r.status == 400 and "no tool calling" in r.json()["error"]["message"], "llama2 tools: %r" % r)
        r = chat(s, "tiny-llama2", {"tools": [WEATHER], "tool_choice": "none", "max_tokens": 2})
        t.check(r.status == 200, "tool_choice none on a template without tools: %r" % r)
        r = chat(s, "tiny", {"max_tokens": 2})
        t.check(r.status == 200, "still serving: %r" % r)
    t.finish()


if __name__ == "__main__":
    main()
