"""test_llm_tools_more.py — tool calling on Mistral v3 templates ([TOOL_CALLS] forced and
parsed back, streamed in pieces, a conversation rendered as Mistral-7B-Instruct-v0.3's
template writes it) and on Ollama's /api/chat (message.tool_calls with object arguments,
streamed and not; Ollama-shaped history rendered to the same prompt as the OpenAI request;
the 400s), on the random-weight llama with forced templates. Helpers: test_llm_tools.py.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, skip, write_json  # noqa: E402
from test_llm_grammar import validate  # noqa: E402
from test_llm_tools import (MAX_TOKENS, SCHEMAS, TIME, TINY, WEATHER, chat, check_call, post,  # noqa: E402
                            stream_calls, tojson)


def tokens(s, model, text):
    r = s.request("POST", "/tokenize", body=json.dumps({"model": model, "content": text, "add_special": True}),
                  headers={"Content-Type": "application/json"}, timeout=60)
    return len(r.json()["tokens"]) if r.status == 200 else -1


def mistral(t, s):
    """Mistral v3: [TOOL_CALLS] [{..}] forced and parsed back, streamed in pieces, the
    conversation written as Mistral-7B-Instruct-v0.3's template writes it."""
    for seed in (1, 2):
        for choice in ("required", {"type": "function", "function": {"name": "get_time"}}):
            r = chat(s, "tiny-mistral", {"tools": [WEATHER, TIME], "tool_choice": choice, "seed": seed})
            what = "mistral %r seed %d" % (choice, seed)
            if t.check(r.status == 200, "%s: %r" % (what, r)):
                ch = r.json()["choices"][0]
                t.check(ch["finish_reason"] == "tool_calls" and len(ch["message"].get("tool_calls") or []) == 1,
                        "%s: %r" % (what, ch))
                for c in ch["message"].get("tool_calls") or []:
                    check_call(t, c, ["get_time"] if isinstance(choice, dict) else ["get_weather", "get_time"], what)
    body = {"tools": [WEATHER], "tool_choice": "required", "temperature": 0}
    whole = chat(s, "tiny-mistral", body).json()["choices"][0]["message"]["tool_calls"][0]
    got, finish, content = stream_calls(chat(s, "tiny-mistral", dict(body, stream=True)))
    t.check(finish == "tool_calls" and len(got) == 1 and got[0]["name"] == whole["function"]["name"] and
            got[0]["arguments"] == whole["function"]["arguments"] and got[0]["pieces"] > 1 and content == "",
            "mistral stream: %r %r vs %r" % (finish, got, whole))
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "abcDEF123", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": "18 C"}]
    text = ("[AVAILABLE_TOOLS] [" + ", ".join('{"type": "function", "function": {' + ", ".join(
        ('"%s": "%s"' % (k, v)) if isinstance(v, str) else '"%s": %s' % (k, tojson(v))
        for k, v in x["function"].items()) + "}}" for x in [WEATHER, TIME]) + "][/AVAILABLE_TOOLS]"
        "[INST] Be brief.\n\nWeather in Paris?[/INST][TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": "
        "{\"city\": \"Paris\", \"unit\": \"celsius\"}, \"id\": \"abcDEF123\"}]</s>"
        "[TOOL_RESULTS] {\"content\": 18 C, \"call_id\": \"abcDEF123\"}[/TOOL_RESULTS]")
    r = post(s, {"model": "tiny-mistral", "messages": msgs, "tools": [WEATHER, TIME], "max_tokens": 1})
    if t.check(r.status == 200, "mistral render: %r" % r):
        t.check(r.json()["usage"]["prompt_tokens"] == tokens(s, "tiny-mistral", text),
                "mistral rendered prompt: %d tokens, expected text has %d" % (
                    r.json()["usage"]["prompt_tokens"], tokens(s, "tiny-mistral", text)))


def ollama(t, s):
    """Ollama's /api/chat with tools: message.tool_calls with object arguments, streamed
    (NDJSON) and not, and Ollama-shaped history (calls without ids, tool messages with
    tool_name) rendered as the OpenAI request would be."""
    def ol(body):
        return s.request("POST", "/api/chat", body=json.dumps(body), headers={"Content-Type": "application/json"},
                         timeout=600)
    base = {"model": "tiny", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER, TIME],
            "tool_choice": "required", "options": {"temperature": 0, "num_predict": MAX_TOKENS}}
    r = ol(dict(base, stream=False))
    calls = []
    if t.check(r.status == 200, "ollama tools: %r" % r):
        msg = r.json()["message"]
        calls = msg.get("tool_calls") or []
        t.check(len(calls) == 1 and msg["role"] == "assistant" and msg["content"] == "" and r.json()["done"],
                "ollama call: %r" % r.json())
        for c in calls:
            fn = c["function"]
            t.check(fn["name"] in SCHEMAS and isinstance(fn["arguments"], dict) and fn["index"] == 0 and
                    not validate(fn["arguments"], SCHEMAS[fn["name"]]), "ollama call shape: %r" % c)
    r = ol(base)  # streamed by default
    lines = [json.loads(x) for x in r.body.decode().splitlines() if x.strip()] if r.status == 200 else []
    scalls = [c for x in lines for c in (x.get("message") or {}).get("tool_calls") or []]
    t.check(r.status == 200 and lines and lines[-1]["done"] and not any(x["done"] for x in lines[:-1]) and
            [c["function"] for c in scalls] == [c["function"] for c in calls] and
            "".join(x["message"]["content"] for x in lines) == "", "ollama stream: %r" % lines[-3:])
    # history: Ollama's shape; the same prompt as the OpenAI request with ids
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}
    omsgs = [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": "", "tool_calls": [call]},
             {"role": "tool", "content": "18 C", "tool_name": "get_weather"}]
    r = ol({"model": "tiny-fresh1", "messages": omsgs, "tools": [WEATHER], "stream": False,
            "options": {"num_predict": 1}})
    omsgs[1] = {"role": "assistant", "content": None, "tool_calls": [dict(call, id="x", type="function", function=dict(
        call["function"], arguments=json.dumps(call["function"]["arguments"])))]}
    omsgs[2] = {"role": "tool", "content": "18 C", "tool_call_id": "x"}
    o = post(s, {"model": "tiny-fresh2", "messages": omsgs, "tools": [WEATHER], "max_tokens": 1})
    if t.check(r.status == 200 and o.status == 200, "ollama history: %r %r" % (r, o)):
        t.check(r.json()["prompt_eval_count"] == o.json()["usage"]["prompt_tokens"], "ollama history prompt: %d vs %d"
                % (r.json()["prompt_eval_count"], o.json()["usage"]["prompt_tokens"]))
    # Mistral renders ids: two calls of one function, answered in order by tool_name
    c2 = [{"function": {"name": "get_time", "arguments": {"zone": z}}} for z in ("CET", "UTC")]
    omsgs = [{"role": "user", "content": "Time?"}, {"role": "assistant", "content": "", "tool_calls": c2},
             {"role": "tool", "content": "10:00", "tool_name": "get_time"},
             {"role": "tool", "content": "09:00", "tool_name": "get_time"}]
    r = ol({"model": "tiny-mistral-fresh1", "messages": omsgs, "tools": [TIME], "stream": False,
            "options": {"num_predict": 1}})
    ids = ["call_1_%d" % k for k in range(2)]  # the ids the Ollama route gives them
    amsgs = [omsgs[0], {"role": "assistant", "content": None, "tool_calls": [
        {"id": ids[k], "type": "function", "function": {"name": "get_time", "arguments": json.dumps(c["function"][
            "arguments"])}} for k, c in enumerate(c2)]},
        {"role": "tool", "content": "10:00", "tool_call_id": ids[0]}, {"role": "tool", "content": "09:00",
                                                                        "tool_call_id": ids[1]}]
    o = post(s, {"model": "tiny-mistral-fresh2", "messages": amsgs, "tools": [TIME], "max_tokens": 1})
    if t.check(r.status == 200 and o.status == 200, "ollama mistral history: %r %r" % (r, o)):
        t.check(r.json()["prompt_eval_count"] == o.json()["usage"]["prompt_tokens"],
                "ollama mistral history prompt: %d vs %d" % (r.json()["prompt_eval_count"],
                                                             o.json()["usage"]["prompt_tokens"]))
    r = s.request("POST", "/api/generate", body=json.dumps({"model": "tiny", "prompt": "x", "tools": [WEATHER]}),
                  headers={"Content-Type": "application/json"})
    t.check(r.status == 400 and "tools" in r.json()["error"], "ollama generate with tools: %r" % r)
    r = ol({"model": "tiny-llama2", "messages": base["messages"], "tools": [WEATHER]})
    t.check(r.status == 400 and "no tool calling" in r.json()["error"], "ollama tools on llama2: %r" % r)


def main():
    if not os.path.exists(TINY):
        skip("llama-2-tiny-random.gguf is absent")
    t = Checker()
    root = tempfile.mkdtemp(prefix="inferd-tools-more-")
    # *-fresh: models that serve only the history comparisons, so that nothing of their
    # prompts is cached (Ollama's prompt_eval_count counts computed tokens only)
    for name, tmpl in (("tiny", "chatml"), ("tiny-llama2", "llama2"), ("tiny-mistral", "mistral-v3"),
                       ("tiny-fresh1", "chatml"), ("tiny-fresh2", "chatml"), ("tiny-mistral-fresh1", "mistral-v3"),
                       ("tiny-mistral-fresh2", "mistral-v3")):
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(TINY, os.path.join(root, name, "1", "model.gguf"))
        write_json(os.path.join(root, name, "config.json"),
                   {"context_size": 8192, "parallel": 2, "chat_template": tmpl})
    with Server(root, "--threads", "2") as s:
        mistral(t, s)
        ollama(t, s)
        r = chat(s, "tiny", {"max_tokens": 2})
        t.check(r.status == 200, "still serving: %r" % r)
    t.finish()


if __name__ == "__main__":
    main()
