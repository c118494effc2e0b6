"""BYTES (string) tensors on the KServe v2 API, as Triton carries them: JSON "data" as a list
of strings, and the binary extension with a 4-byte little-endian length before each string,
for inputs and outputs. The model (built here with the onnx helper) takes a STRING input and
gives it back (Identity), doubled (Concat) and its element count (Shape). Bad input answers
400 naming the field; dynamic batching splits string outputs back per request."""
import json
import os
import struct
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, binary_outputs, metric_value, skip, write_json  # noqa: E402

try:
    import onnx
    from onnx import TensorProto, helper
except ImportError:
    skip("python3 onnx missing")


def make_text_model(path):
    nodes = [
        helper.make_node("Identity", ["text"], ["echo"]),
        helper.make_node("Concat", ["text", "text"], ["twice"], axis=0),
        helper.make_node("Shape", ["text"], ["count"]),
    ]
    g = helper.make_graph(nodes, "text", [helper.make_tensor_value_info("text", TensorProto.STRING, ["N"])],
                          [helper.make_tensor_value_info("echo", TensorProto.STRING, ["N"]),
                           helper.make_tensor_value_info("twice", TensorProto.STRING, ["M"]),
                           helper.make_tensor_value_info("count", TensorProto.INT64, [1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(m, path)


def make_batch_model(path):
    """Rows keep the batch dim: echo (N, 2) and both columns twice (N, 4)."""
    nodes = [helper.make_node("Identity", ["text"], ["echo"]),
             helper.make_node("Concat", ["text", "text"], ["wide"], axis=1)]
    g = helper.make_graph(nodes, "textb", [helper.make_tensor_value_info("text", TensorProto.STRING, ["N", 2])],
                          [helper.make_tensor_value_info("echo", TensorProto.STRING, ["N", 2]),
                           helper.make_tensor_value_info("wide", TensorProto.STRING, ["N", 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(m, path)


def serialize(strs):
    return b"".join(struct.pack("<I", len(s)) + s for s in strs)


def deserialize(b):
    out, at = [], 0
    while at < len(b):
        (n,) = struct.unpack_from("<I", b, at)
        out.append(b[at + 4:at + 4 + n])
        at += 4 + n
    return out


tmp = tempfile.mkdtemp(prefix="inferd-bytes-")
models = os.path.join(tmp, "models")
make_text_model(os.path.join(models, "text", "1", "model.onnx"))
make_batch_model(os.path.join(models, "textb", "1", "model.onnx"))
write_json(os.path.join(models, "textb", "config.json"),
           {"max_batch_size": 8, "dynamic_batching": {"preferred_batch_size": [6], "max_queue_delay_microseconds": 3000000}})
c = Checker()
words = ["héllo wörld", "", 'quote " and \\ slash', "日本語"]

with Server(models) as s:
    md = s.get("/v2/models/text").json()
    c.check(md["inputs"][0]["datatype"] == "BYTES" and md["outputs"][0]["datatype"] == "BYTES",
            "metadata says BYTES: %r" % md)

    # JSON in, JSON out
    r = s.post_json("/v2/models/text/infer",
                    {"inputs": [{"name": "text", "shape": [4], "datatype": "BYTES", "data": words}]})
    ok = c.check(r.status == 200, "JSON BYTES infer: %r" % r)
    if ok:
        outs = {o["name"]: o for o in r.json()["outputs"]}
        c.check(outs["echo"]["datatype"] == "BYTES" and outs["echo"]["data"] == words and outs["echo"]["shape"] == [4],
                "echo: %r" % outs.get("echo"))
        c.check(outs["twice"]["data"] == words + words and outs["twice"]["shape"] == [8], "twice: %r" % outs.get("twice"))
        c.check(outs["count"]["data"] == [4], "count: %r" % outs.get("count"))

    # binary in (4-byte length prefixes), binary out
    raw = [w.encode() for w in words] + [b"\x00bin\xffary"]
    part = serialize(raw)
    hdr = json.dumps({"inputs": [{"name": "text", "shape": [5], "datatype": "BYTES",
                                  "parameters": {"binary_data_size": len(part)}}],
                      "outputs": [{"name": "echo", "parameters": {"binary_data": True}},
                                  {"name": "count"}]}).encode()
    r = s.post("/v2/models/text/infer", hdr + part, headers={"Inference-Header-Content-Length": str(len(hdr))})
    ok = c.check(r.status == 200 and "inference-header-content-length" in r.headers, "binary BYTES infer: %r" % r)
    if ok:
        h, parts = binary_outputs(r)
        c.check(deserialize(parts.get("echo", b"")) == raw, "binary echo round-trips bytes: %r" % parts)
        c.check(parts["echo"] == part, "binary output is Triton's serialization")
        outs = {o["name"]: o for o in h["outputs"]}
        c.check(outs["count"]["data"] == [5], "count with binary input: %r" % outs)

    # JSON in, binary out
    r = s.post_json("/v2/models/text/infer",
                    {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "bc"]}],
                     "outputs": [{"name": "twice", "parameters": {"binary_data": True}}]})
    if c.check(r.status == 200, "JSON in, binary out: %r" % r):
        _, parts = binary_outputs(r)
        c.check(deserialize(parts.get("twice", b"")) == [b"a", b"bc", b"a", b"bc"], "twice binary: %r" % parts)

    # errors name the field
    r = s.post_json("/v2/models/text/infer",
                    {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", 7]}]})
    c.check(r.status == 400 and "inputs['text'].data" in r.json().get("error", "") and "element 1" in r.json()["error"],
            "a number among strings: %r" % r)
    r = s.post_json("/v2/models/text/infer",
                    {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a", "b"]}]})
    c.check(r.status == 400 and "inputs['text'].data" in r.json().get("error", ""), "count mismatch: %r" % r)
    bad = struct.pack("<I", 100) + b"short"
    hdr = json.dumps({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                  "parameters": {"binary_data_size": len(bad)}}]}).encode()
    r = s.post("/v2/models/text/infer", hdr + bad, headers={"Inference-Header-Content-Length": str(len(hdr))})
    c.check(r.status == 400 and "binary_data_size" in r.json().get("error", ""), "length prefix past the data: %r" % r)
    part = serialize([b"x", b"y"])
    hdr = json.dumps({"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES",
                                  "parameters": {"binary_data_size": len(part)}}]}).encode()
    r = s.post("/v2/models/text/infer", hdr + part, headers={"Inference-Header-Content-Length": str(len(hdr))})
    c.check(r.status == 400 and "inputs['text']" in r.json().get("error", ""), "binary count mismatch: %r" % r)
    r = s.post_json("/v2/models/text/infer",
                    {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]})
    c.check(r.status == 400 and "text" in r.json().get("error", ""), "FP32 for a BYTES input: %r" % r)

    # batched requests (merged or not, as timing decides): each gets its own strings back
    res = [None, None, None]

    def one(i):
        rows = [["req%d-%s" % (i, "x" * (i * 5 + k)), "r%d c1" % k] for k in range(i + 1)]
        rr = s.post_json("/v2/models/textb/infer",
                         {"inputs": [{"name": "text", "shape": [i + 1, 2], "datatype": "BYTES", "data": rows}]})
        outs = {o["name"]: o for o in rr.json()["outputs"]} if rr.status == 200 else {}
        res[i] = (rr.status == 200 and outs["echo"]["data"] == sum(rows, []) and outs["echo"]["shape"] == [i + 1, 2]
                  and outs["wide"]["data"] == sum([r + r for r in rows], []))
        if not res[i]:
            print("batched request %d: %r" % (i, rr))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    c.check(all(res), "batched BYTES requests split back: %r" % res)
    print("textb engine runs for 3 requests:",
          metric_value(s, "inferd_batch_size_count", 'model="textb",version="1"'))
    c.check(s.get("/v2/health/live").status == 200, "server still serving")
c.finish()
