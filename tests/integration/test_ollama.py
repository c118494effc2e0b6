"""test_ollama.py — Ollama's API of `inferd serve` on a real GGUF model (aidreams260K.gguf):
/api/version, /api/tags, /api/ps, /api/show; /api/chat and /api/generate streamed as NDJSON
and not (greedy raw generate equal to the golden llama.cpp text, stream == non-stream, the
final line's counters), a generate without a prompt ("load"), /api/embed with one and several
inputs, a client hanging up mid-stream freeing its slot, and Ollama's {"error"} answers
(unknown model 404, a model that cannot generate 400, bad fields 400).
Skips (77) without the shared test data."""
import http.client
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, make_mlp, skip, wait_until, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
GOLDEN = os.path.join(SHARED, "testdata", "llm", "golden_aidreams260K.json")
COUNTERS = ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
            "eval_duration")


def make_repo():
    root = tempfile.mkdtemp(prefix="inferd-ollama-")
    for name, cfg in (("aidreams", {"context_size": 2048, "parallel": 4}),
                      ("slow", {"context_size": 8192, "parallel": 1})):
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(GGUF, os.path.join(root, name, "1", "model.gguf"))
        write_json(os.path.join(root, name, "config.json"), cfg)
    make_mlp(os.path.join(root, "mlp", "1", "model.onnx"))
    return root


def ndjson(s, path, body, timeout=60):
    """POSTs body; returns (status, content type, [parsed lines])."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=timeout)
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    ctype = r.getheader("Content-Type", "")
    raw = r.read().decode()
    c.close()
    return r.status, ctype, [json.loads(x) for x in raw.split("\n") if x.strip()]


def metric(text, name, model):
    m = re.search(r'^%s\{model="%s"\} (\S+)$' % (re.escape(name), re.escape(model)), text, re.M)
    return float(m.group(1)) if m else None


def check_final(t, last, what):
    t.check(last.get("done") is True, "%s: last line done" % what)
    t.check(last.get("done_reason") in ("stop", "length"), "%s: done_reason %r" % (what, last.get("done_reason")))
    t.check(all(isinstance(last.get(k), int) and last[k] >= 0 for k in COUNTERS),
            "%s: integer counters %r" % (what, {k: last.get(k) for k in COUNTERS}))
    t.check(last.get("prompt_eval_count", 0) > 0 and last.get("total_duration", 0) > 0,
            "%s: prompt_eval_count and total_duration > 0" % what)
    t.check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", last.get("created_at", "")) is not None,
            "%s: created_at RFC 3339" % what)


def main():
    if not os.path.exists(GGUF) or not os.path.exists(GOLDEN):
        skip("aidreams260K.gguf or its golden file is absent (../shared)")
    golden = {c["prompt"]: c for c in json.load(open(GOLDEN))["cases"]}
    t = Checker()
    with Server(make_repo()) as s:
        # -- models --
        r = s.get("/api/version")
        t.check(r.status == 200 and re.match(r"^\d+\.\d+\.\d+", r.json().get("version", "")), "version %r" % r)
        r = s.get("/api/tags")
        t.check(r.status == 200, "tags %r" % r)
        models = {m["name"]: m for m in r.json().get("models", [])}
        t.check(set(models) == {"aidreams:latest", "slow:latest"}, "tags lists the GGUF models only: %r" % models)
        m = models.get("aidreams:latest", {})
        d = m.get("details", {})
        t.check(m.get("model") == "aidreams:latest" and m.get("size") == os.path.getsize(GGUF) and m.get("digest")
                and m.get("modified_at"), "tags entry %r" % m)
        t.check(d.get("format") == "gguf" and d.get("family") == "llama" and d.get("quantization_level") == "F32"
                and d.get("parameter_size", "").endswith("K"), "tags details %r" % d)
        r = s.get("/api/ps")
        ps = {m["name"]: m for m in r.json().get("models", [])} if r.status == 200 else {}
        t.check(set(ps) == {"aidreams:latest", "slow:latest"} and ps["aidreams:latest"].get("expires_at")
                and ps["aidreams:latest"].get("context_length") == 2048, "ps %r" % r)
        r = s.post_json("/api/show", {"model": "aidreams:latest"})
        sh = r.json() if r.status == 200 else {}
        t.check(all(k in sh for k in ("modelfile", "parameters", "template", "details", "model_info")), "show %r" % r)
        t.check(sh.get("model_info", {}).get("general.architecture") == "llama"
                and sh.get("model_info", {}).get("llama.embedding_length") == 64, "show model_info %r" % sh)
        t.check("temperature" in sh.get("parameters", ""), "show parameters %r" % sh.get("parameters"))
        r = s.post_json("/api/show", {"model": "nope"})
        t.check(r.status == 404 and r.json() == {"error": 'model "nope" not found, try pulling it first'},
                "show unknown: %r" % r)

        # -- generate (raw = no template): greedy text equals llama.cpp's --
        gcase = golden["The"]
        body = {"model": "aidreams", "prompt": "The", "raw": True, "stream": False,
                "options": {"temperature": 0, "num_predict": len(gcase["tokens"])}}
        r = s.post_json("/api/generate", body)
        g = r.json() if r.status == 200 else {}
        t.check(r.status == 200 and g.get("response") == gcase["text"], "raw generate == golden: %r" % g)
        check_final(t, g, "generate stream:false")
        t.check(g.get("done_reason") == "length" and g.get("eval_count") == len(gcase["tokens"]),
                "generate: length after num_predict tokens %r" % g)
        st, ctype, lines = ndjson(s, "/api/generate", dict(body, stream=None))  # null: the default, streamed
        t.check(st == 200 and ctype.startswith("application/x-ndjson"), "generate streams NDJSON %r %r" % (st, ctype))
        t.check(len(lines) >= 2 and all(x.get("done") is False and "response" in x for x in lines[:-1]),
                "generate stream lines %r" % lines[:3])
        t.check("".join(x.get("response", "") for x in lines) == gcase["text"], "streamed generate == golden")
        if lines:
            check_final(t, lines[-1], "generate stream")
        # templated generate with a system prompt, and a generate with no prompt
        r = s.post_json("/api/generate", {"model": "aidreams", "prompt": "Hi", "system": "Be brief.", "stream": False,
                                          "options": {"num_predict": 4, "seed": 7}})
        t.check(r.status == 200 and r.json().get("done") is True and isinstance(r.json().get("response"), str),
                "templated generate %r" % r)
        r = s.post_json("/api/generate", {"model": "aidreams"})
        t.check(r.status == 200 and r.json().get("done_reason") == "load" and r.json().get("done") is True,
                "generate without a prompt loads %r" % r)

        # -- chat: streamed (default) == not streamed at temperature 0 --
        chat = {"model": "aidreams:latest", "messages": [{"role": "system", "content": "You are a poet."},
                                                         {"role": "user", "content": "Tell me about the sea."}],
                "options": {"temperature": 0, "top_k": 1, "num_predict": 24, "stop": ["zzzz"]}}
        st, ctype, lines = ndjson(s, "/api/chat", chat)
        t.check(st == 200 and ctype.startswith("application/x-ndjson") and len(lines) >= 2, "chat streams %r" % st)
        t.check(all(x.get("message", {}).get("role") == "assistant" and x.get("done") is False for x in lines[:-1]),
                "chat stream lines %r" % lines[:2])
        streamed = "".join(x.get("message", {}).get("content", "") for x in lines)
        if lines:
            check_final(t, lines[-1], "chat stream")
            t.check(lines[-1].get("model") == "aidreams", "chat model %r" % lines[-1].get("model"))
        r = s.post_json("/api/chat", dict(chat, stream=False))
        c1 = r.json() if r.status == 200 else {}
        t.check(c1.get("message", {}).get("content") == streamed and streamed, "chat stream == not: %r vs %r"
                % (c1.get("message"), streamed))
        check_final(t, c1, "chat stream:false")
        t.check(c1.get("eval_count") == 24 or c1.get("done_reason") == "stop", "chat eval_count %r" % c1)

        # -- embed --
        r = s.post_json("/api/embed", {"model": "aidreams", "input": "hello world"})
        e = r.json() if r.status == 200 else {}
        t.check(r.status == 200 and len(e.get("embeddings", [])) == 1 and len(e["embeddings"][0]) == 64
                and e.get("model") == "aidreams", "embed one input %r" % r)
        r = s.post_json("/api/embed", {"model": "aidreams", "input": ["hello world", "The"]})
        e2 = r.json() if r.status == 200 else {}
        t.check(r.status == 200 and len(e2.get("embeddings", [])) == 2 and e2.get("prompt_eval_count", 0) > 0,
                "embed two inputs %r" % r)
        if e and e2:
            t.check(max(abs(a - b) for a, b in zip(e["embeddings"][0], e2["embeddings"][0])) < 1e-5,
                    "same input, same embedding")

        # -- errors --
        one = [{"role": "user", "content": "x"}]
        for path, b, status, what in (
                ("/api/chat", {"model": "nope", "messages": one}, 404, "unknown model"),
                ("/api/generate", {"model": "nope", "prompt": "x"}, 404, "unknown model (generate)"),
                ("/api/embed", {"model": "nope", "input": "x"}, 404, "unknown model (embed)"),
                ("/api/chat", {"model": "mlp", "messages": one}, 400, "a model that does not generate"),
                ("/api/generate", {"model": "mlp", "prompt": "x"}, 400, "a model that does not generate"),
                ("/api/chat", {"messages": one}, 400, "no model"),
                ("/api/chat", {"model": "aidreams", "messages": []}, 400, "no messages"),
                ("/api/chat", {"model": "aidreams", "messages": one, "options": {"temperature": "hot"}}, 400,
                 "bad option"),
                ("/api/chat", {"model": "aidreams", "messages": one, "options": {"num_predict": "x"}}, 400,
                 "bad num_predict"),
                ("/api/chat", {"model": "aidreams", "messages": one, "format": "xml"}, 400, "format"),
                ("/api/generate", {"model": "aidreams", "prompt": 3}, 400, "prompt not a string")):
            r = s.post_json(path, b)
            err = r.json().get("error") if r.body else None
            t.check(r.status == status and isinstance(err, str) and err, "%s: %s -> %r" % (path, what, r))
            if status == 404:
                t.check(err == 'model "nope" not found, try pulling it first', "404 message %r" % err)
        r = s.post("/api/chat", b"{not json")
        t.check(r.status == 400 and "error" in r.json(), "malformed body %r" % r)

        # -- a client that hangs up mid-stream frees its slot --
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        c.request("POST", "/api/generate", body=json.dumps({"model": "slow", "prompt": "The", "raw": True,
                                                            "options": {"temperature": 0, "num_predict": 6000}}),
                  headers={"Content-Type": "application/json"})
        resp = c.getresponse()
        first = json.loads(resp.readline() or b"{}")
        t.check(first.get("done") is False, "long stream started: %r" % first)
        resp.close()
        if c.sock:
            c.sock.close()
        c.close()

        def slot_free():
            return metric(s.get("/metrics").body.decode(), "inferd_llm_requests_running", "slow") == 0
        t.check(wait_until(slot_free, timeout=60), "running gauge back to 0 after the hang-up")
        gen = metric(s.get("/metrics").body.decode(), "inferd_llm_generation_tokens_total", "slow")
        t.check(gen is not None and gen < 6000, "generation stopped early after the hang-up: %r tokens" % gen)
    t.check(s.returncode == 0, "server exited 0 without a sanitizer report: %r" % s.returncode)
    t.finish()


if __name__ == "__main__":
    main()
