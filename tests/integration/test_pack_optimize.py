"""test_pack_optimize.py — `inferd pack --optimize` and `--quantize int8` on ONNX models.

The model (built with python3-onnx) has what exporters leave behind: Conv followed by
BatchNormalization, Identity and Dropout nodes, a Constant feeding an arithmetic chain on
initializers, a dead branch, then Flatten, Gemm and MatMul. Checks:
- --optimize: the packaged model.onnx has fewer nodes (no BatchNormalization, Identity,
  Dropout, Constant or dead node left), ONNX Runtime loads it and computes what it computes on
  the source (1e-5), the server serves it with the same answers, the manifest lists the rewrite
  and pack prints what it did, the size and the measured output difference;
- --quantize int8: Conv/Gemm/MatMul weights are int8 initializers behind DequantizeLinear
  (per-channel scales), the file is much smaller, ORT loads it and stays within int8 rounding
  of the float model, and inferd serves it the same way;
- a GGUF source with --optimize is refused naming the flag;
- at load, the same rewrites run on the source model unless config.json switches them off
  ("graph_optimizations": false, or per rewrite): every setting answers as ORT does, the
  load log says which rewrites ran, and a bad setting is refused naming the member."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, skip  # noqa: E402

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    skip("numpy or python3-onnx missing")
ROOT = os.environ.get("INFERD_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
if not os.path.isdir(os.path.join(ROOT, "node_modules/onnxruntime-node")):
    skip("npm onnxruntime-node is not installed")

tmp = tempfile.mkdtemp(prefix="inferd-opt-")
c = Checker()
r = np.random.RandomState(3)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def build(path):
    C, K = 16, 10
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c1"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c1", "s", "b", "mu", "var"], ["bn"], epsilon=1e-3, name="bn"),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("Identity", ["r"], ["id"], name="identity"),
        helper.make_node("Dropout", ["id"], ["dr"], name="dropout"),
        helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.float32([2.0]), "k"), name="const"),
        helper.make_node("Mul", ["k", "half"], ["one"], name="fold_me"),
        helper.make_node("Mul", ["dr", "one"], ["m"], name="times_one"),
        helper.make_node("Sigmoid", ["m"], ["dead"], name="dead_branch"),
        helper.make_node("Flatten", ["m"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "g", "gb"], ["h"], transB=1, name="gemm"),
        helper.make_node("MatMul", ["h", "mm"], ["y"], name="matmul"),
    ]
    inits = [init("w", r.randn(C, 3, 3, 3) * 0.3), init("s", r.uniform(0.5, 1.5, C)), init("b", r.randn(C) * 0.1),
             init("mu", r.randn(C) * 0.1), init("var", r.uniform(0.5, 1.5, C)), init("half", [0.5]),
             init("g", r.randn(32, C * 8 * 8) * 0.05), init("gb", r.randn(32) * 0.1), init("mm", r.randn(32, K) * 0.2)]
    g = helper.make_graph(nodes, "exported", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, K])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def run(*args):
    return subprocess.run([BIN] + list(args), cwd=tmp, capture_output=True, text=True, timeout=120)


def ort(model, x):
    p = subprocess.run(["node", os.path.join(ROOT, "tests/integration/ort_run.js"), model],
                       input=json.dumps({"x": {"dims": list(x.shape), "data": x.ravel().tolist()}}),
                       capture_output=True, text=True, timeout=120)
    out = json.loads(p.stdout or '{"error": "no output"}')
    return None if "error" in out else np.array(out["y"]["data"], np.float32), out.get("error")


def deq_model(path):
    """The model with every DequantizeLinear of an initializer replaced by its float result."""
    qm = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in qm.graph.initializer}
    nodes, extra = [], []
    for n in qm.graph.node:
        if n.op_type != "DequantizeLinear":
            nodes.append(n)
            continue
        q, sc = inits[n.input[0]].astype(np.float32), inits[n.input[1]]
        axis = ([a.i for a in n.attribute if a.name == "axis"] or [1])[0]
        shape = [1] * q.ndim
        shape[axis] = -1
        extra.append(numpy_helper.from_array((q * sc.reshape(shape)).astype(np.float32), n.output[0]))
    g = helper.make_graph(nodes, "dequantized", qm.graph.input, qm.graph.output, list(qm.graph.initializer) + extra)
    m = helper.make_model(g, opset_imports=qm.opset_import)
    m.ir_version = qm.ir_version
    out = path + ".dequantized.onnx"
    onnx.save(m, out)
    return out


def serve_y(s, name, x):
    resp = s.post_json("/v2/models/%s/infer" % name,
                       {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]})
    return np.array(resp.json()["outputs"][0]["data"], np.float32) if resp.status == 200 else resp.body[:300]


src = os.path.join(tmp, "exported.onnx")
build(src)
x = r.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
want, e = ort(src, x)
c.check(want is not None, "ORT runs the source model: %s" % e)

p = run("pack", src, "--name", "opt", "--optimize", "-o", "pkg-opt", "-q")
c.check(p.returncode == 0, "pack --optimize: %r" % p.stderr)
model = os.path.join(tmp, "pkg-opt/opt/1/model.onnx")
ops = [n.op_type for n in onnx.load(model).graph.node] if os.path.exists(model) else []
c.check(ops and not {"BatchNormalization", "Identity", "Dropout", "Constant", "Sigmoid"} & set(ops)
        and len(ops) < 12, "the optimized graph keeps only the work: %r" % ops)
m = re.search(r"output difference on a random input: max abs ([0-9.e+-]+)", p.stdout)
c.check("BatchNormalization folded" in p.stdout and "size " in p.stdout and m and float(m.group(1)) < 1e-4,
        "pack says what it did, the size and the measured difference: %r" % p.stdout)
man = json.load(open(os.path.join(tmp, "pkg-opt/opt/1/manifest.json"))) if p.returncode == 0 else {}
c.check(man.get("optimizations") == ["onnx-graph-optimizations"] and man["source"]["sha256"] != man["files"]["model.onnx"]["sha256"],
        "the manifest lists the rewrite and keeps the source's digest: %r" % man.get("optimizations"))
got, e = ort(model, x)
c.check(got is not None and np.allclose(got, want, rtol=1e-5, atol=1e-5),
        "ORT loads the optimized file and computes the same: %s" % (e or np.max(np.abs(got - want))))

p = run("pack", src, "--name", "q8", "--quantize", "int8", "--optimize", "-o", "pkg-q8", "-q")
c.check(p.returncode == 0, "pack --quantize int8: %r" % p.stderr)
qmodel = os.path.join(tmp, "pkg-q8/q8/1/model.onnx")
if os.path.exists(qmodel):
    qm = onnx.load(qmodel)
    int8 = {t.name for t in qm.graph.initializer if t.data_type == TensorProto.INT8 and len(t.dims) >= 2}
    dq = [n for n in qm.graph.node if n.op_type == "DequantizeLinear"]
    c.check(len(int8) == 3 and len(dq) == 3 and all(any(a.name == "axis" for a in n.attribute) for n in dq),
            "three int8 weights behind per-channel DequantizeLinear: %r" % sorted(int8))
    c.check(os.path.getsize(qmodel) < 0.4 * os.path.getsize(src), "the file is smaller: %d -> %d bytes" % (
        os.path.getsize(src), os.path.getsize(qmodel)))
    got, e = ort(qmodel, x)
    scale = float(np.max(np.abs(want)))
    c.check(got is not None and np.max(np.abs(got - want)) < 0.03 * scale + 1e-3,
            "ORT runs the int8 model within int8 rounding: %s" % (e or np.max(np.abs(got - want)) / scale))
    c.check("3 weights int8" in p.stdout, "pack reports the quantized weights: %r" % p.stdout)

repo = os.path.join(tmp, "repo")
for pkg in ("pkg-opt", "pkg-q8"):
    run("register", pkg, "--repo", repo)
with Server(repo) as s:
    y = serve_y(s, "opt", x)
    c.check(isinstance(y, np.ndarray) and np.allclose(y, want, rtol=1e-4, atol=1e-5), "inferd serves the optimized "
            "model with the source's answers: %r" % (y if not isinstance(y, np.ndarray) else np.max(np.abs(y - want))))
    # ONNX's meaning of the int8 model is the float model with W = q * scale; ORT rewrites
    # weight-only QDQ into its own quantized kernels (it differs from that by ~1.5% here), so the
    # exact reference is ORT on the model with the DequantizeLinear outputs as float initializers
    yq, oq = serve_y(s, "q8", x), ort(deq_model(qmodel), x)[0]
    tol = 1e-4 * float(np.max(np.abs(oq))) if oq is not None else 0
    c.check(isinstance(yq, np.ndarray) and oq is not None and np.max(np.abs(yq - oq)) <= tol,
            "inferd serves the int8 model with ONNX's meaning of it: %r" % (
                yq if not isinstance(yq, np.ndarray) else "max diff %g, allowed %g" % (np.max(np.abs(yq - oq)), tol)))

# load-time rewrites, switchable per model in config.json
lrepo = os.path.join(tmp, "lrepo")
settings = {"all": None, "none": False, "nobn": {"batchnorm": False}, "nofold": {"constant_folding": False},
            "noid": {"identity": False}, "nodce": {"dead_nodes": False}, "noqdq": {"qdq": False},
            "noinplace": {"in_place": False}, "bad": {"fold": True},
            "nofuse": {"fusion": False, "layernorm": False, "gelu": False, "transpose": False, "attention": False,
                        "matmul_bias": False}}
for name, g in settings.items():
    os.makedirs(os.path.join(lrepo, name, "1"))
    shutil.copy(src, os.path.join(lrepo, name, "1", "model.onnx"))
    if g is not None:
        with open(os.path.join(lrepo, name, "config.json"), "w") as f:
            json.dump({"graph_optimizations": g}, f)
with Server(lrepo) as s:
    for name in settings:
        if name == "bad":
            continue
        y = serve_y(s, name, x)
        c.check(isinstance(y, np.ndarray) and np.allclose(y, want, rtol=1e-5, atol=1e-5),
                "graph_optimizations %s: the answers equal ORT's: %r" % (name, y if not isinstance(y, np.ndarray)
                                                                         else np.max(np.abs(y - want))))
    logs = {}
    for line in s.stderr_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("msg") == "graph optimized":
            logs[e.get("model")] = e.get("rewrites", "")
    counts = {k: [int(n) for n in re.findall(r"(\d+) (?:constant|Identity|BatchNorm|dead)", v)] for k, v in logs.items()}
    c.check(all(n > 0 for n in counts.get("all", [0])), "all rewrites ran by default: %r" % logs.get("all"))
    c.check(counts.get("none") == [0, 0, 0, 0] and "12 -> 12" in logs.get("none", ""),
            "graph_optimizations: false runs none: %r" % logs.get("none"))
    for name, k in (("nofold", 0), ("noid", 1), ("nobn", 2), ("nodce", 3)):
        c.check(name in counts and counts[name][k] == 0 and sum(counts[name]) > 0,
                "%s switches off only its rewrite: %r" % (name, logs.get(name)))
    bad = s.get("/v2/models/bad/ready")
    c.check(bad.status != 200 and "graph_optimizations.fold" in s.stderr_text(),
            "an unknown rewrite is refused naming it: %r" % bad.status)

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
gguf = os.path.join(SHARED, "testdata/llm/arch/qwen2.gguf")
if os.path.exists(gguf):
    p = run("pack", gguf, "--name", "g", "--optimize", "-o", "pkg-g")
    c.check(p.returncode != 0 and "--optimize" in p.stderr and not os.path.exists(os.path.join(tmp, "pkg-g")),
            "--optimize on a GGUF model is refused: %r" % p.stderr)

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
