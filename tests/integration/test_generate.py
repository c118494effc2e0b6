"""test_generate.py — Triton's generate extension on a real GGUF model (aidreams260K.gguf):
/v2/models/{m}/generate (one JSON object) and /generate_stream (Server-Sent Events), with
the parameters both nested ("parameters": {...}, Triton's vLLM style) and at the top level
(TensorRT-LLM's style); greedy text equal to llama.cpp's golden output; the stream's pieces
joined equal the whole answer; "id" echoed; the version path; Triton's {"error"} answers
(unknown model 404, an ONNX model 400, unknown parameter 400 naming it, missing
text_input 400, a version that is not served 404); a stop word. Also through the gateway:
the same request routed to the server. Skips (77) without the shared test data."""
import http.client
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Gateway, Server, make_mlp, skip, wait_until, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
GOLDEN = os.path.join(SHARED, "testdata", "llm", "golden_aidreams260K.json")


def sse(host_port, path, body, timeout=60):
    """POSTs body; returns (status, content type, [parsed data events])."""
    c = http.client.HTTPConnection("127.0.0.1", host_port, timeout=timeout)
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    ctype = r.getheader("Content-Type", "")
    raw = r.read().decode()
    c.close()
    events = [json.loads(e[len("data: "):]) for e in raw.split("\n\n") if e.startswith("data: ")]
    return r.status, ctype, events


def main():
    if not os.path.exists(GGUF) or not os.path.exists(GOLDEN):
        skip("aidreams260K.gguf or its golden file is absent (../shared)")
    golden = {c["prompt"]: c for c in json.load(open(GOLDEN))["cases"]}
    t = Checker()
    root = tempfile.mkdtemp(prefix="inferd-generate-")
    os.makedirs(os.path.join(root, "aidreams", "1"))
    os.symlink(GGUF, os.path.join(root, "aidreams", "1", "model.gguf"))
    write_json(os.path.join(root, "aidreams", "config.json"), {"context_size": 1024, "parallel": 2})
    make_mlp(os.path.join(root, "mlp", "1", "model.onnx"))
    g = golden["The"]
    n = len(g["tokens"])
    with Server(root, "--threads", "2") as s:
        # -- generate: nested parameters, greedy == llama.cpp --
        body = {"id": "req-7", "text_input": "The", "parameters": {"temperature": 0, "max_tokens": n}}
        r = s.post_json("/v2/models/aidreams/generate", body)
        a = r.json() if r.status == 200 else {}
        t.check(r.status == 200 and a.get("text_output") == g["text"], "generate == golden: %r" % (r,))
        t.check(a.get("model_name") == "aidreams" and a.get("model_version") == "1" and a.get("id") == "req-7"
                and a.get("finish_reason") == "length", "answer fields: %r" % a)
        t.check(r.headers.get("content-type", "").startswith("application/json"), "JSON answer")
        # -- the same with TensorRT-LLM's top-level names and the version path --
        r2 = s.post_json("/v2/models/aidreams/versions/1/generate",
                         {"text_input": "The", "temperature": 0, "max_tokens": n})
        t.check(r2.status == 200 and r2.json().get("text_output") == g["text"], "top-level parameters: %r" % (r2,))
        # -- generate_stream: SSE pieces, joined == the whole --
        st, ctype, ev = sse(s.port, "/v2/models/aidreams/generate_stream", body)
        t.check(st == 200 and ctype.startswith("text/event-stream"), "stream: SSE %r %r" % (st, ctype))
        t.check(len(ev) >= 3 and all(e.get("model_name") == "aidreams" and "text_output" in e for e in ev),
                "stream: several events with text_output: %r" % ev[:3])
        t.check("".join(e.get("text_output", "") for e in ev) == g["text"], "stream joined == golden")
        t.check(ev and ev[-1].get("finish_reason") == "length" and all("finish_reason" not in e for e in ev[:-1]),
                "only the last event carries finish_reason: %r" % ev[-2:])
        # -- a stop word ends it early --
        cut = g["text"][len(g["text"]) // 2:][:4]
        if cut.strip():
            r3 = s.post_json("/v2/models/aidreams/generate",
                             {"text_input": "The", "parameters": {"temperature": 0, "max_tokens": n, "stop": [cut]}})
            t.check(r3.status == 200 and r3.json().get("finish_reason") == "stop"
                    and g["text"].startswith(r3.json().get("text_output", "?")) and
                    cut not in r3.json().get("text_output", ""), "stop word: %r (cut %r)" % (r3, cut))
        # -- errors in Triton's shape --
        r = s.post_json("/v2/models/nosuch/generate", {"text_input": "x"})
        t.check(r.status == 404 and "nosuch" in r.json().get("error", ""), "unknown model 404: %r" % r)
        r = s.post_json("/v2/models/mlp/generate", {"text_input": "x"})
        t.check(r.status == 400 and "not a language model" in r.json().get("error", ""), "ONNX model 400: %r" % r)
        r = s.post_json("/v2/models/aidreams/generate", {"text_input": "x", "parameters": {"beam_width": 2}})
        t.check(r.status == 400 and "parameters.beam_width" in r.json().get("error", ""),
                "unknown parameter 400 naming it: %r" % r)
        r = s.post_json("/v2/models/aidreams/generate", {"prompt": "x"})
        t.check(r.status == 400 and "text_input" in r.json().get("error", ""), "no text_input 400: %r" % r)
        r = s.post_json("/v2/models/aidreams/generate", {"text_input": "x", "parameters": {"temperature": "hot"}})
        t.check(r.status == 400 and "temperature" in r.json().get("error", ""), "bad value 400 naming it: %r" % r)
        r = s.post_json("/v2/models/aidreams/versions/2/generate", {"text_input": "x"})
        t.check(r.status == 404 and "version" in r.json().get("error", ""), "unserved version 404: %r" % r)
        r = s.post("/v2/models/aidreams/generate", b"{")
        t.check(r.status == 400 and "JSON" in r.json().get("error", ""), "bad JSON 400: %r" % r)
        # -- through a gateway: routed by the model in the path --
        tmp = tempfile.mkdtemp(prefix="inferd-generate-gw-")
        chf = os.path.join(tmp, "channels.json")
        write_json(chf, [{"id": "s", "base_url": "http://127.0.0.1:%d" % s.port, "protocol": "inferd"}])
        with Gateway(os.path.join(tmp, "gw.db"), "--channels", chf, "--probe-interval", "300") as gw:
            t.check(wait_until(lambda: gw.get("/v2/health/ready").status == 200, 30), "gateway ready")
            r = gw.post_json("/v2/models/aidreams/generate", body)
            t.check(r.status == 200 and r.json().get("text_output") == g["text"]
                    and r.headers.get("x-inferd-channel") == "s", "generate through the gateway: %r" % (r,))
            st, ctype, ev = sse(gw.port, "/v2/models/aidreams/generate_stream", body)
            t.check(st == 200 and "".join(e.get("text_output", "") for e in ev) == g["text"],
                    "generate_stream through the gateway: %r %r" % (st, ev[:2]))
    t.finish()


if __name__ == "__main__":
    main()
