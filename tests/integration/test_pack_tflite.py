"""test_pack_tflite.py — `inferd pack model.tflite` converts a float32 TensorFlow Lite model to
ONNX inside the package, and the served model answers as Arm NN's TFLite parser (Debian's
python3-pyarmnn, reference CPU backend) computes the original file.

The TFLite files are written here with python3-flatbuffers (tflite_model.py): a MobileNet-like
stack (conv + RELU6, depthwise stride 2 with SAME padding on an even size, HARD_SWISH, average
pool, spatial MEAN, fully connected, softmax) and a residual one (conv, ADD with a fused RELU,
MUL by a constant, LOGISTIC, MAX_POOL SAME, TANH, CONCATENATION, RESHAPE, FULLY_CONNECTED, SUB,
and a second output from MEAN with keep_dims), plus one whose conv filter is float16 behind a
DEQUANTIZE. Refused with a clear error and nothing written: an operator the import does not
convert (named, with its index), an int8 tensor, a truncated file."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, skip  # noqa: E402

try:
    import numpy as np
    from tflite_model import (TFLite, add, concat, conv2d, depthwise, fully_connected, mul, pool, reducer, reshape,
                              run_armnn, softmax, sub)
    import pyarmnn  # noqa: F401
except ImportError as e:
    skip("python3-flatbuffers, python3-pyarmnn or numpy missing (%s)" % e)

tmp = tempfile.mkdtemp(prefix="inferd-tflite-")
c = Checker()
r = np.random.RandomState(7)


def run(*args):
    p = subprocess.run([BIN] + list(args), cwd=tmp, capture_output=True, text=True, timeout=120)
    return p


W = np.random.RandomState(1)  # weights; reseeded per model so mobile and mobile16 match


def f32(*shape, scale=0.3):
    return (W.randn(*shape) * scale).astype(np.float32)


def mobile(f16=False):
    W.seed(1)
    m = TFLite()
    x = m.tensor("input", [1, 16, 16, 3])
    w1v = f32(8, 3, 3, 3)
    if f16:
        w1h = m.tensor("w1_f16", [8, 3, 3, 3], w1v.astype(np.float16), np.float16)
        w1 = m.tensor("w1", [8, 3, 3, 3])
        m.op("DEQUANTIZE", [w1h], [w1])
    else:
        w1 = m.tensor("w1", [8, 3, 3, 3], w1v.astype(np.float16).astype(np.float32))
    b1 = m.tensor("b1", [8], f32(8, scale=0.1))
    y1 = m.tensor("y1", [1, 16, 16, 8])
    m.op("CONV_2D", [x, w1, b1], [y1], conv2d("SAME", 1, "RELU6"))
    w2 = m.tensor("w2", [1, 3, 3, 8], f32(1, 3, 3, 8))
    b2 = m.tensor("b2", [8], f32(8, scale=0.1))
    y2 = m.tensor("y2", [1, 8, 8, 8])
    m.op("DEPTHWISE_CONV_2D", [y1, w2, b2], [y2], depthwise("SAME", 2, 1, "RELU"))
    w3 = m.tensor("w3", [16, 1, 1, 8], f32(16, 1, 1, 8))
    y3 = m.tensor("y3", [1, 8, 8, 16])
    m.op("CONV_2D", [y2, w3], [y3], conv2d("VALID", 1, "NONE"))
    y4 = m.tensor("y4", [1, 8, 8, 16])
    m.op("HARD_SWISH", [y3], [y4])
    y5 = m.tensor("y5", [1, 4, 4, 16])
    m.op("AVERAGE_POOL_2D", [y4], [y5], pool("VALID", 2, 2))
    ax = m.tensor("axes", [2], [1, 2], np.int32)
    y6 = m.tensor("y6", [1, 16])
    m.op("MEAN", [y5, ax], [y6], reducer(False))
    w4, b4 = m.tensor("w4", [10, 16], f32(10, 16)), m.tensor("b4", [10], f32(10))
    y7 = m.tensor("logits", [1, 10])
    m.op("FULLY_CONNECTED", [y6, w4, b4], [y7], fully_connected())
    y8 = m.tensor("probs", [1, 10])
    m.op("SOFTMAX", [y7], [y8], softmax(1.0))
    return m.build([x], [y8]), {"input": [1, 16, 16, 3]}


def residual():
    m = TFLite()
    x = m.tensor("x", [1, 8, 8, 4])
    w1, b1 = m.tensor("w1", [4, 3, 3, 4], f32(4, 3, 3, 4)), m.tensor("b1", [4], f32(4))
    y1 = m.tensor("y1", [1, 8, 8, 4])
    m.op("CONV_2D", [x, w1, b1], [y1], conv2d("SAME", 1, "NONE"))
    y2 = m.tensor("y2", [1, 8, 8, 4])
    m.op("ADD", [y1, x], [y2], add("RELU"))
    half = m.tensor("half", [1], [0.5])
    y3 = m.tensor("y3", [1, 8, 8, 4])
    m.op("MUL", [y2, half], [y3], mul())
    y4 = m.tensor("y4", [1, 8, 8, 4])
    m.op("LOGISTIC", [y3], [y4])
    y5 = m.tensor("y5", [1, 4, 4, 4])
    m.op("MAX_POOL_2D", [y4], [y5], pool("SAME", 2, 3))
    y5b = m.tensor("y5b", [1, 4, 4, 4])
    m.op("TANH", [y5], [y5b])
    y6 = m.tensor("y6", [1, 4, 4, 8])
    m.op("CONCATENATION", [y5, y5b], [y6], concat(3))
    shp = m.tensor("shape", [2], [1, 128], np.int32)
    y7 = m.tensor("y7", [1, 128])
    m.op("RESHAPE", [y6, shp], [y7], reshape([1, 128]))
    w2, b2 = m.tensor("w2", [5, 128], f32(5, 128, scale=0.1)), m.tensor("b2", [5], f32(5))
    y8 = m.tensor("y8", [1, 5])
    m.op("FULLY_CONNECTED", [y7, w2, b2], [y8], fully_connected("RELU6"))
    off = m.tensor("offset", [5], f32(5))
    out = m.tensor("out", [1, 5])
    m.op("SUB", [y8, off], [out], sub())
    ax = m.tensor("axes", [2], [1, 2], np.int32)
    pooled = m.tensor("pooled", [1, 1, 1, 4])
    m.op("MEAN", [y4, ax], [pooled], reducer(True))
    return m.build([x], [out, pooled]), {"x": [1, 8, 8, 4]}


def write(name, data):
    path = os.path.join(tmp, name + ".tflite")
    with open(path, "wb") as f:
        f.write(data)
    return path


repo = os.path.join(tmp, "repo")
cases = {"mobile": mobile(), "mobile16": mobile(f16=True), "residual": residual()}
refs = {}
for name, (data, inputs) in cases.items():
    path = write(name, data)
    p = run("pack", path, "--name", name, "-o", "pkg-" + name, "-q")
    c.check(p.returncode == 0, "pack %s.tflite: %r" % (name, p.stderr))
    if p.returncode:
        continue
    man = json.load(open(os.path.join(tmp, "pkg-%s/%s/1/manifest.json" % (name, name))))
    c.check(man["format"] == "onnx" and man["source"]["format"] == "tflite" and man["optimizations"] == ["tflite-to-onnx"]
            and "model.onnx" in man["files"], "%s: the manifest says what was converted: %r" % (name, man))
    cfg = json.load(open(os.path.join(tmp, "pkg-%s/%s/config.json" % (name, name))))
    c.check([i["name"] for i in cfg["input"]] == list(inputs) and [i["dims"] for i in cfg["input"]] == list(inputs.values()),
            "%s: config.json keeps the TFLite input names and NHWC shapes: %r" % (name, cfg["input"]))
    c.check(run("register", "pkg-" + name, "--repo", repo).returncode == 0, "register %s" % name)
    xs = {k: r.uniform(-1, 1, size=v).astype(np.float32) for k, v in inputs.items()}
    ref_src = path if name != "mobile16" else os.path.join(tmp, "mobile.tflite")  # armnn: the same weights in f32
    refs[name] = (xs, run_armnn(ref_src, list(xs.values())), cfg)

with Server(repo) as s:
    for name, (xs, want, cfg) in refs.items():
        body = {"inputs": [{"name": k, "shape": list(v.shape), "datatype": "FP32", "data": v.ravel().tolist()}
                           for k, v in xs.items()]}
        resp = s.post_json("/v2/models/%s/infer" % name, body)
        c.check(resp.status == 200, "%s: infer: %r" % (name, resp.body[:300]))
        if resp.status != 200:
            continue
        outs = {o["name"]: np.array(o["data"], np.float32).reshape(o["shape"]) for o in resp.json()["outputs"]}
        names = [o["name"] for o in cfg["output"]]
        for k, (oname, ref) in enumerate(zip(names, want)):
            got = outs.get(oname)
            ok = got is not None and got.shape == ref.shape and np.allclose(got, ref, rtol=1e-4, atol=1e-5)
            err = float(np.max(np.abs(got - ref))) if got is not None and got.shape == ref.shape else None
            print("%s %s max abs diff %s, max |ref| %.3g" % (name, oname, err, float(np.max(np.abs(ref)))))
            c.check(ok, "%s: output %s equals Arm NN's on the .tflite (max abs diff %s)" % (name, oname, err))

# refused: an operator the import does not convert, named with its index; nothing written
m = TFLite()
x = m.tensor("x", [1, 4])
y = m.tensor("y", [1, 4])
z = m.tensor("z", [1, 4])
m.op("RELU", [x], [y])
m.op("SVDF", [y], [z])
p = run("pack", write("svdf", m.build([x], [z])), "--name", "svdf", "-o", "pkg-svdf")
c.check(p.returncode != 0 and "SVDF" in p.stderr and "operator 1" in p.stderr and not os.path.exists(
    os.path.join(tmp, "pkg-svdf")), "an unsupported operator is named: %r" % p.stderr)
m = TFLite()
x = m.tensor("x", [1, 4])
w = m.tensor("w", [2, 4], np.ones((2, 4)), np.int8)
y = m.tensor("y", [1, 2])
m.op("FULLY_CONNECTED", [x, w], [y], fully_connected())
p = run("pack", write("int8", m.build([x], [y])), "--name", "q", "-o", "pkg-q")
c.check(p.returncode != 0 and "'w'" in p.stderr and "quantized" in p.stderr, "an int8 tensor is named: %r" % p.stderr)
data = cases["mobile"][0]
p = run("pack", write("cut", data[:len(data) // 3]), "--name", "cut", "-o", "pkg-cut")
c.check(p.returncode != 0 and "TFLite model" in p.stderr and not os.path.exists(os.path.join(tmp, "pkg-cut")),
        "a truncated file: %r" % p.stderr)

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
