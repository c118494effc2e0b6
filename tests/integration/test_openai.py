"""test_openai.py — the OpenAI-compatible LLM API of `inferd serve` on a real GGUF model
(aidreams260K.gguf): repository listing, greedy completions equal to the golden
llama.cpp output, streaming == non-streaming, SSE chunk shapes, 16 concurrent streams equal
to their sequential results, a disconnect freeing its slot, queue-full 503, embeddings,
tokenize/detokenize, OpenAI-shaped errors, metrics (promtool-clean) and the access log.
"""
import base64
import http.client
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, skip, wait_until, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
GOLDEN = os.path.join(SHARED, "testdata", "llm", "golden_aidreams260K.json")


def make_repo():
    root = tempfile.mkdtemp(prefix="inferd-oai-")
    for name, cfg in (("aidreams", {"context_size": 2048, "parallel": 16}),
                      ("slow", {"context_size": 8192, "parallel": 1, "max_queue_size": 1})):
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(GGUF, os.path.join(root, name, "1", "model.gguf"))
        write_json(os.path.join(root, name, "config.json"), cfg)
    return root


def sse_events(s, path, body, timeout=60):
    """POSTs body and returns (status, headers, [parsed data events], saw_done)."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=timeout)
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    headers = {k.lower(): v for k, v in r.getheaders()}
    raw = r.read().decode()
    c.close()
    events, done = [], False
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        data = block[6:]
        if data == "[DONE]":
            done = True
        else:
            events.append(json.loads(data))
    return r.status, headers, events, done


def stream_text(events, chat):
    out = []
    for e in events:
        for ch in e.get("choices", []):
            if chat:
                out.append(ch["delta"].get("content") or "")
            else:
                out.append(ch.get("text") or "")
    return "".join(out)


def metric(text, name, model):
    m = re.search(r'^%s\{model="%s"\} (\S+)$' % (re.escape(name), re.escape(model)), text, re.M)
    return float(m.group(1)) if m else None


def main():
    if not os.path.exists(GGUF) or not os.path.exists(GOLDEN):
        skip("aidreams260K.gguf or its golden file is absent")
    golden = json.load(open(GOLDEN))
    t = Checker()
    root = make_repo()
    work = tempfile.mkdtemp(prefix="inferd-oai-log-")
    alog = os.path.join(work, "access.log")
    with Server(root, "--access-log", alog, "--threads", "2") as s:
        # -- 1. the repository shows the model everywhere --
        r = s.get("/v1/models")
        t.check(r.status == 200, "GET /v1/models: %r" % r)
        ids = [m["id"] for m in r.json()["data"]]
        t.check("aidreams" in ids and "slow" in ids, "/v1/models lists both: %r" % ids)
        meta = [m for m in r.json()["data"] if m["id"] == "aidreams"][0]
        t.check(meta["object"] == "model" and meta["meta"]["parallel"] == 16, "model entry %r" % meta)
        r = s.get("/v1/models/aidreams")  # OpenAI's "retrieve model" (shared with TF-Serving's path)
        t.check(r.status == 200 and r.json().get("id") == "aidreams" and r.json().get("object") == "model",
                "GET /v1/models/aidreams: %r" % r)
        r = s.get("/v1/models/nope")
        t.check(r.status == 404, "GET /v1/models/nope is 404: %r" % r)
        r = s.get("/v2/models/aidreams")
        t.check(r.status == 200 and r.json().get("name") == "aidreams", "v2 metadata %r" % r)
        r = s.post_json("/v2/repository/index", {})
        t.check(r.status == 200 and any(e.get("name") == "aidreams" for e in r.json()), "repo index %r" % r)

        # -- 2. greedy completions equal llama.cpp's golden generations --
        for case in golden["cases"]:
            r = s.post_json("/tokenize", {"model": "aidreams", "content": case["prompt"], "add_special": True})
            t.check(r.status == 200 and r.json()["tokens"] == case["prompt_tokens"],
                    "tokenize %r: %r" % (case["prompt"], r.body[:200]))
            r = s.post_json("/v1/completions", {"model": "aidreams", "prompt": case["prompt"], "max_tokens": 48,
                                                "temperature": 0, "logprobs": 1})
            if not t.check(r.status == 200, "completion %r: %r" % (case["prompt"], r)):
                continue
            j = r.json()
            ch = j["choices"][0]
            t.check(ch["text"] == case["text"], "greedy text %r: %r != %r" % (case["prompt"], ch["text"], case["text"]))
            t.check(ch["finish_reason"] == "length", "finish_reason length: %r" % ch["finish_reason"])
            t.check(j["usage"]["prompt_tokens"] == len(case["prompt_tokens"]) and
                    j["usage"]["completion_tokens"] == 48, "usage %r" % j["usage"])
            lp = ch["logprobs"]
            t.check(len(lp["tokens"]) == 48 and "".join(lp["tokens"]) == case["text"], "logprob tokens join to text")
            p0 = math.exp(lp["token_logprobs"][0])
            t.check(abs(p0 - case["top5"][0][0][1]) < 2e-3, "first-token prob %f vs golden %f" % (p0, case["top5"][0][0][1]))
            # the same prompt as token ids
            r2 = s.post_json("/v1/completions", {"model": "aidreams", "prompt": case["prompt_tokens"], "max_tokens": 48,
                                                 "temperature": 0})
            t.check(r2.status == 200 and r2.json()["choices"][0]["text"] == case["text"], "token-id prompt %r" % r2)

        # several prompts: one choice each, equal to the single-prompt answers
        cases = golden["cases"][:3]
        r = s.post_json("/v1/completions", {"model": "aidreams", "prompt": [c["prompt"] for c in cases[:2]] +
                                            [cases[2]["prompt_tokens"]], "max_tokens": 48, "temperature": 0})
        t.check(r.status == 200 and [c["index"] for c in r.json()["choices"]] == [0, 1, 2] and
                [c["text"] for c in r.json()["choices"]] == [c["text"] for c in cases] and
                r.json()["usage"]["completion_tokens"] == 3 * 48, "several prompts: %r" % r)

        # -- 3. streaming equals non-streaming; SSE shapes --
        chat_body = {"model": "aidreams", "messages": [{"role": "system", "content": "You are a poet."},
                                                       {"role": "user", "content": "Echoes of"}],
                     "max_tokens": 30, "temperature": 0}
        r = s.post_json("/v1/chat/completions", chat_body)
        t.check(r.status == 200, "chat %r" % r)
        full = r.json()
        t.check(full["object"] == "chat.completion" and full["choices"][0]["message"]["role"] == "assistant",
                "chat shape %r" % full)
        status, headers, events, done = sse_events(s, "/v1/chat/completions",
                                                   dict(chat_body, stream=True, stream_options={"include_usage": True}))
        t.check(status == 200 and headers.get("content-type", "").startswith("text/event-stream"), "SSE headers %r" % headers)
        t.check(done, "stream ends with [DONE]")
        t.check(len(events) >= 3 and events[0]["choices"][0]["delta"].get("role") == "assistant",
                "first chunk has the role: %r" % events[:1])
        t.check(all(e["object"] == "chat.completion.chunk" for e in events), "chunk objects")
        fin = [e for e in events if e["choices"] and e["choices"][0]["finish_reason"]]
        t.check(len(fin) == 1 and fin[0]["choices"][0]["finish_reason"] == full["choices"][0]["finish_reason"],
                "one finishing chunk: %r" % fin)
        t.check(events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] ==
                full["usage"]["completion_tokens"], "usage chunk: %r" % events[-1])
        t.check(all("usage" in e and e["usage"] is None for e in events[:-1]), "usage:null on other chunks")
        t.check(stream_text(events, True) == full["choices"][0]["message"]["content"],
                "chat stream text == non-stream text")
        comp_body = {"model": "aidreams", "prompt": "Once upon a time", "max_tokens": 40, "temperature": 0,
                     "stop": [" vectors"]}
        r = s.post_json("/v1/completions", comp_body)
        t.check(r.status == 200, "completion with stop %r" % r)
        ctext = r.json()["choices"][0]["text"]
        t.check(" vectors" not in ctext, "stop string not in the text %r" % ctext)
        status, _, events, done = sse_events(s, "/v1/completions", dict(comp_body, stream=True))
        t.check(status == 200 and done and stream_text(events, False) == ctext,
                "completion stream == non-stream: %r vs %r" % (stream_text(events, False), ctext))
        t.check(events[-1]["choices"][0]["finish_reason"] == r.json()["choices"][0]["finish_reason"], "stream finish")
        # chat logprobs shape
        r = s.post_json("/v1/chat/completions", dict(chat_body, max_tokens=3, logprobs=True, top_logprobs=2))
        lc = r.json()["choices"][0]["logprobs"]["content"] if r.status == 200 else []
        t.check(len(lc) == 3 and all(set(x) >= {"token", "logprob", "bytes", "top_logprobs"} and
                                     len(x["top_logprobs"]) == 2 for x in lc), "chat logprobs shape %r" % lc[:1])
        # prompt-prefix reuse: the same system prompt again is served from the slot's cache
        sys_msgs = [{"role": "system", "content": "You are a poet who writes about vectors and petals."},
                    {"role": "user", "content": "Dimensions"}]
        r1 = s.post_json("/v1/chat/completions", {"model": "aidreams", "messages": sys_msgs, "max_tokens": 4,
                                                  "temperature": 0})
        sys_msgs[1]["content"] = "precision"
        r2 = s.post_json("/v1/chat/completions", {"model": "aidreams", "messages": sys_msgs, "max_tokens": 4,
                                                  "temperature": 0})
        cached = r2.json()["usage"]["prompt_tokens_details"]["cached_tokens"] if r2.status == 200 else -1
        t.check(r1.status == 200 and cached >= 10, "repeated system prompt reused from the cache: %r tokens" % cached)
        # seeded sampling is reproducible
        samp = {"model": "aidreams", "prompt": "The", "max_tokens": 20, "temperature": 0.9, "top_p": 0.9, "seed": 7}
        a, b = s.post_json("/v1/completions", samp), s.post_json("/v1/completions", samp)
        t.check(a.status == 200 and a.json()["choices"][0]["text"] == b.json()["choices"][0]["text"],
                "same seed, same text")

        # -- 4. 16 concurrent streams == their sequential greedy results --
        prompts = [c["prompt"] for c in golden["cases"]] + ["Dimensions", "a gentle hum", "Classification",
                                                           "as I adjust", "tapestry of", "precision", "nodes",
                                                           "petals", "my ear", "secrets"]
        prompts = prompts[:16]
        seq = {}
        for p in prompts:
            r = s.post_json("/v1/completions", {"model": "aidreams", "prompt": p, "max_tokens": 40, "temperature": 0})
            seq[p] = r.json()["choices"][0]["text"] if r.status == 200 else None
        results = {}

        def worker(p):
            try:
                st, _, ev, dn = sse_events(s, "/v1/completions", {"model": "aidreams", "prompt": p, "max_tokens": 40,
                                                                  "temperature": 0, "stream": True})
                results[p] = stream_text(ev, False) if st == 200 and dn else ("status %d" % st)
            except Exception as e:  # noqa: BLE001
                results[p] = "error %r" % e
        threads = [threading.Thread(target=worker, args=(p,)) for p in prompts]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        for p in prompts:
            t.check(results.get(p) == seq[p], "concurrent stream %r: %r != %r" % (p, results.get(p), seq[p]))

        # -- 5. a client that disconnects mid-stream frees its slot --
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        c.request("POST", "/v1/completions", body=json.dumps({"model": "slow", "prompt": "The", "max_tokens": 3000,
                                                              "temperature": 0, "ignore_eos": True, "stream": True}),
                  headers={"Content-Type": "application/json"})
        resp = c.getresponse()
        first = resp.readline()
        t.check(first.startswith(b"data: "), "stream started: %r" % first)
        running_seen = metric(s.get("/metrics").body.decode(), "inferd_llm_requests_running", "slow")
        resp.close()
        c.sock.close() if c.sock else None
        c.close()
        t.check(running_seen == 1, "running gauge 1 while streaming: %r" % running_seen)

        def slot_free():
            return metric(s.get("/metrics").body.decode(), "inferd_llm_requests_running", "slow") == 0
        t.check(wait_until(slot_free, timeout=60), "running gauge back to 0 after the disconnect")
        gen = metric(s.get("/metrics").body.decode(), "inferd_llm_generation_tokens_total", "slow")
        t.check(gen is not None and gen < 3000, "generation stopped early after the disconnect: %r tokens" % gen)

        # -- 6. queue full: 503 + Retry-After (slow: 1 slot, queue 1) --
        long_body = {"model": "slow", "prompt": "The", "max_tokens": 2000, "temperature": 0, "ignore_eos": True}
        conns = []
        for _ in range(2):
            cc = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
            cc.request("POST", "/v1/completions", body=json.dumps(dict(long_body, stream=True)),
                       headers={"Content-Type": "application/json"})
            conns.append(cc)
        wait_until(lambda: (metric(s.get("/metrics").body.decode(), "inferd_llm_requests_waiting", "slow") or 0) >= 1,
                   timeout=20)
        r = s.post_json("/v1/completions", long_body)
        t.check(r.status == 503 and r.headers.get("retry-after") == "1", "queue full -> 503 + Retry-After: %r" % r)
        t.check(r.status == 503 and r.json()["error"]["type"] == "server_error", "503 error object %r" % r)
        for cc in conns:
            cc.close()
        t.check(wait_until(slot_free, timeout=60), "slots free again after both clients left")

        # -- 7. deadline: finish_reason "timeout" --
        r = s.request("POST", "/v1/completions", body=json.dumps(dict(long_body, max_tokens=3000)),
                      headers={"Content-Type": "application/json", "X-Request-Timeout-Ms": "300"})
        t.check(r.status == 200 and r.json()["choices"][0]["finish_reason"] == "timeout" and
                r.json()["usage"]["completion_tokens"] < 3000, "deadline stops with timeout: %r" % r)

        # -- 8. embeddings, tokenize, detokenize --
        r = s.post_json("/v1/embeddings", {"model": "aidreams", "input": ["hello world", "The"]})
        t.check(r.status == 200, "embeddings %r" % r)
        if r.status == 200:
            data = r.json()["data"]
            t.check(len(data) == 2 and len(data[0]["embedding"]) == 64, "two 64-d embeddings")
            norm = math.sqrt(sum(x * x for x in data[0]["embedding"]))
            t.check(abs(norm - 1) < 1e-4, "L2-normalised (%f)" % norm)
            t.check(r.json()["usage"]["prompt_tokens"] > 0, "embedding usage")
            r2 = s.post_json("/v1/embeddings", {"model": "aidreams", "input": "The", "encoding_format": "base64"})
            raw = base64.b64decode(r2.json()["data"][0]["embedding"])
            vals = struct.unpack("<64f", raw)
            t.check(max(abs(a - b) for a, b in zip(vals, data[1]["embedding"])) < 1e-6, "base64 == float embedding")
        r = s.post_json("/detokenize", {"model": "aidreams", "tokens": [368, 430]})
        t.check(r.status == 200 and r.json()["content"] == " The", "detokenize %r" % r)

        # -- 9. OpenAI-shaped errors --
        def err(resp, status, param=None):
            ok = resp.status == status
            try:
                e = resp.json()["error"]
                ok = ok and set(e) == {"message", "type", "param", "code"} and e["message"]
                if param is not None:
                    ok = ok and e["param"] == param
            except (ValueError, KeyError, TypeError):
                ok = False
            return ok
        msgs = [{"role": "user", "content": "Hi"}]
        t.check(err(s.post("/v1/chat/completions", "{not json", {"Content-Type": "application/json"}), 400), "bad JSON")
        t.check(err(s.post_json("/v1/chat/completions", {"model": "aidreams"}), 400, "messages"), "no messages")
        t.check(err(s.post_json("/v1/chat/completions", {"model": "aidreams", "messages": msgs, "n": 17}), 400, "n"), "n=17")
        t.check(err(s.post_json("/v1/chat/completions", {"model": "aidreams", "messages": msgs, "temperature": 5}), 400,
                    "temperature"), "temperature 5")
        t.check(err(s.post_json("/v1/chat/completions", {"model": "no-such", "messages": msgs, "temperature": 5}), 400,
                    "temperature"), "a bad field answers 400 before an unknown model's 404")
        t.check(err(s.post_json("/v1/embeddings", {"model": "no-such", "input": "x"}), 404, "model"),
                "embeddings: unknown model 404")
        r = s.post_json("/v1/chat/completions", {"model": "no-such", "messages": msgs})
        t.check(err(r, 404, "model") and r.json()["error"]["code"] == "model_not_found", "unknown model %r" % r)
        t.check(err(s.post_json("/v1/completions", {"model": "aidreams", "prompt": [1, 99999]}), 400, "prompt"),
                "token id out of range")
        t.check(err(s.post_json("/v1/completions", {"model": "aidreams", "prompt": "x" * 3000}), 400), "prompt too long")
        t.check(err(s.post_json("/detokenize", {"model": "aidreams", "tokens": [-1]}), 400, "tokens"), "bad detokenize")
        # a 400 still names the model in the access log and metrics (checked in 10 and 11)
        t.check(err(s.post_json("/v1/chat/completions", {"model": "aidreams", "messages": msgs, "temperature": "hot"}),
                    400, "temperature"), "temperature hot")
        t.check(err(s.post_json("/v1/embeddings", {"model": "aidreams", "input": 5}), 400, "input"), "input 5")
        for bad in ("soon", "-5", "12ms", "1e3"):
            r = s.post_json("/v1/completions", {"model": "aidreams", "prompt": "The", "max_tokens": 2},
                            {"X-Request-Timeout-Ms": bad})
            t.check(err(r, 400, "X-Request-Timeout-Ms"), "bad X-Request-Timeout-Ms %r -> 400: %r" % (bad, r))
        r = s.post_json("/v1/embeddings", {"model": "aidreams", "input": "The"}, {"X-Request-Timeout-Ms": "x"})
        t.check(err(r, 400, "X-Request-Timeout-Ms"), "bad X-Request-Timeout-Ms on embeddings -> 400: %r" % r)
        for huge in ("18446744073709552", "99999999999999999999999999"):
            r = s.post_json("/v1/completions", {"model": "aidreams", "prompt": "The", "max_tokens": 4,
                                                "temperature": 0, "ignore_eos": True},
                            {"X-Request-Timeout-Ms": huge})
            t.check(r.status == 200 and r.json()["choices"][0]["finish_reason"] == "length",
                    "huge X-Request-Timeout-Ms %s is clamped, not wrapped into a timeout: %r" % (huge, r))

        # -- 10. metrics --
        mt = s.get("/metrics").body.decode()
        for name in ("inferd_llm_time_to_first_token_seconds_count", "inferd_llm_e2e_latency_seconds_count",
                     "inferd_llm_prompt_tokens_total", "inferd_llm_generation_tokens_total"):
            v = metric(mt, name, "aidreams")
            t.check(v is not None and v > 0, "metric %s{model=aidreams} > 0: %r" % (name, v))
        n400 = sum(float(v) for v in re.findall(r'^inferd_requests_total\{model="aidreams",[^}]*code="400"\} (\S+)$',
                                                mt, re.M))
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=mt.encode(), capture_output=True)
            t.check(p.returncode == 0, "promtool: %s" % p.stdout.decode()[-500:] + p.stderr.decode()[-500:])

    # -- 11. access log: one line per request with LLM fields --
    lines = [json.loads(x) for x in open(alog) if x.strip()]
    comp = [x for x in lines if x.get("path") == "/v1/completions" and x.get("status") == 200]
    t.check(len(comp) > 10, "access log has the completions")
    t.check(all("prompt_tokens" in x and "completion_tokens" in x and "ttft_ms" in x and "finish_reason" in x
                for x in comp), "LLM fields in every completion line: %r" % comp[:1])
    t.check(any(x["completion_tokens"] == 48 and x["finish_reason"] == "length" for x in comp), "48-token line")

    bad = [x for x in lines if x.get("status") == 400 and x.get("path") in ("/v1/chat/completions", "/v1/embeddings")
           and x.get("model") == "aidreams"]
    t.check(len(bad) >= 2, "400 lines of chat and embeddings carry model=aidreams: %r" %
            [x for x in lines if x.get("status") == 400][:3])
    t.check(n400 == len([x for x in lines if x.get("status") == 400 and x.get("model") == "aidreams"]) and n400 >= 2,
            "inferd_requests_total{model=aidreams,code=400} (%s) == the access log's 400 lines for it" % n400)
    # -- 12. API keys: OpenAI-shaped 401 --
    keyf = os.path.join(work, "keys.txt")
    with open(keyf, "w") as f:
        f.write("sk-test-123\n")
    with Server(root, "--api-key-file", keyf) as s:
        r = s.post_json("/v1/chat/completions", {"model": "aidreams", "messages": msgs})
        t.check(err(r, 401) and r.json()["error"]["code"] == "invalid_api_key", "401 without key %r" % r)
        r = s.post_json("/v1/chat/completions", {"model": "aidreams", "messages": msgs, "max_tokens": 2},
                        {"Authorization": "Bearer sk-test-123"})
        t.check(r.status == 200, "200 with key %r" % r)
    # -- 13. SIGTERM drains: a running stream still ends with [DONE] --
    with Server(root) as s:
        box = {}

        def drained_stream():
            box["r"] = sse_events(s, "/v1/completions", {"model": "slow", "prompt": "The", "max_tokens": 400,
                                                         "temperature": 0, "ignore_eos": True, "stream": True})
        th = threading.Thread(target=drained_stream)
        th.start()
        wait_until(lambda: metric(s.get("/metrics").body.decode(), "inferd_llm_requests_running", "slow") == 1,
                   timeout=20)
        s.send_signal(signal.SIGTERM)
        th.join(120)
        st, _, ev, done = box.get("r", (0, None, [], False))
        t.check(st == 200 and done and ev[-1]["choices"][0]["finish_reason"] == "length",
                "stream finished across SIGTERM: %r" % (ev[-1:] if ev else st))
        t.check(s.stop() == 0, "clean exit after the drain")
    t.finish()


if __name__ == "__main__":
    main()
