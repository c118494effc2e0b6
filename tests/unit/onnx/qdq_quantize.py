#!/usr/bin/python3
"""qdq_quantize.py — static int8 QDQ quantisation of a float ONNX model, in the format ONNX
Runtime's quantize_static(quant_format=QDQ) writes, with Debian's python3-onnx and numpy
(ORT's own Python quantiser is not packaged in Debian).

    /usr/bin/python3 tests/unit/onnx/qdq_quantize.py IN.onnx INPUTS_MANIFEST OUT.onnx

What it writes (per Conv, Gemm and MatMul node; every other node stays float):
  activation inputs   x -> QuantizeLinear(s, zp u8) -> DequantizeLinear -> op
                      asymmetric u8: s = (max(hi,0) - min(lo,0)) / 255, zp = round(-min(lo,0) / s)
  weights (initializer) int8 initializer, symmetric per output channel (Conv axis 0, Gemm
                      axis 0 with transB=1 else 1, MatMul axis 1): s_c = max|w_c| / 127, zp 0,
                      -> DequantizeLinear(axis) -> op
  bias (Conv, Gemm)   int32 initializer, s_c = s_x * s_w,c, zp 0 -> DequantizeLinear(axis 0)
  outputs             op -> QuantizeLinear(u8) -> DequantizeLinear -> the op's consumers
                      (a graph output keeps its name: it becomes the DequantizeLinear's)
A tensor quantised once (an activation read by several ops) gets one Q/DQ pair.

Calibration: [lo, hi] of each activation is the min/max over one run of the float model on
the inputs of INPUTS_MANIFEST (the test's own "<name> <dtype> <rank> <dims> <file>" lines),
taken by ONNX Runtime: every float tensor to quantise is added as a graph output of a
temporary copy of the model, which tests/unit/onnx/ort_run.js (node + onnxruntime-node) runs.

Also prints "quanta <output> <scale>" for each graph output that ends quantised: the output's
quantum, which the comparison of engines uses as its unit.
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

QUANT_OPS = ("Conv", "Gemm", "MatMul")


def weight_axis(node):
    if node.op_type == "Conv":
        return 0
    if node.op_type == "Gemm":
        for a in node.attribute:
            if a.name == "transB" and a.i:
                return 0
        return 1
    return 1  # MatMul: B (K, N), per column


def calibrate(model, names, manifest, work):
    """Runs the float model under ORT with `names` as extra outputs; returns {name: (lo, hi)}."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    for n in names:
        if n not in have:
            probe.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    path = os.path.join(work, "calib.onnx")
    onnx.save(probe, path)
    runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_run.js")
    prefix = os.path.join(os.path.dirname(os.path.abspath(manifest)), "calib")
    subprocess.run(["node", runner, path, manifest, prefix], check=True)
    ranges = {}
    with open(prefix + ".outputs") as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            rank = int(p[2])
            a = np.fromfile(os.path.join(os.path.dirname(prefix), p[3 + rank]), dtype=np.float32)
            ranges[p[0]] = (float(a.min()) if a.size else 0.0, float(a.max()) if a.size else 0.0)
            os.unlink(os.path.join(os.path.dirname(prefix), p[3 + rank]))
    os.unlink(prefix + ".outputs")
    os.unlink(path)
    return ranges


def act_params(lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(round(-lo / scale), 0, 255))
    return np.float32(scale), np.uint8(zp)


def quantize(model, manifest, work):
    model = shape_inference.infer_shapes(model)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    floats = {v.name for v in list(g.value_info) + list(g.input) + list(g.output)
              if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    targets = [n for n in g.node if n.op_type in QUANT_OPS]
    acts = []  # activation tensors to quantise, in first-use order
    for n in targets:
        for name in n.input[:2]:
            if name and name not in inits and name in floats and name not in acts:
                acts.append(name)
        if n.output[0] not in acts:
            acts.append(n.output[0])
    ranges = calibrate(model, acts, manifest, work)
    params = {a: act_params(*ranges[a]) for a in acts}

    new_inits, nodes, renamed = [], [], {}

    def qdq(name):
        """Q/DQ pair for activation `name`; returns the DQ output's name."""
        if name in renamed:
            return renamed[name]
        s, zp = params[name]
        sn, zn, qn, dn = name + "_qs", name + "_qzp", name + "_q", name + "_dq"
        new_inits.append(numpy_helper.from_array(np.array(s, dtype=np.float32), sn))
        new_inits.append(numpy_helper.from_array(np.array(zp, dtype=np.uint8), zn))
        nodes.append(helper.make_node("QuantizeLinear", [name, sn, zn], [qn], name=qn))
        nodes.append(helper.make_node("DequantizeLinear", [qn, sn, zn], [dn], name=dn))
        renamed[name] = dn
        return dn

    graph_outs = {o.name for o in g.output}
    out_rename = {}  # quantised op output -> the name its consumers read
    quanta = {}
    wcache = {}
    for n in g.node:
        if n.op_type not in QUANT_OPS:
            n.input[:] = [out_rename.get(x, x) for x in n.input]
            nodes.append(n)
            continue
        ins = list(n.input)
        for i in range(min(2, len(ins))):
            x = ins[i]  # an original name: a quantised op's output is in renamed
            if x in inits and inits[x].data_type == TensorProto.FLOAT and i == 1:
                key = (x, weight_axis(n))
                if key not in wcache:
                    w = numpy_helper.to_array(inits[x]).astype(np.float32)
                    ax = key[1]
                    red = tuple(d for d in range(w.ndim) if d != ax)
                    ws = (np.abs(w).max(axis=red) / 127.0).astype(np.float32)
                    ws[ws == 0] = 1.0
                    shp = [1] * w.ndim
                    shp[ax] = -1
                    wq = np.clip(np.round(w / ws.reshape(shp)), -127, 127).astype(np.int8)
                    base = x + "_w"
                    new_inits += [numpy_helper.from_array(wq, base + "q"), numpy_helper.from_array(ws, base + "s"),
                                  numpy_helper.from_array(np.zeros(ws.shape, np.int8), base + "zp")]
                    nodes.append(helper.make_node("DequantizeLinear", [base + "q", base + "s", base + "zp"], [base + "dq"],
                                                  name=base + "dq", axis=ax))
                    wcache[key] = (base + "dq", ws)
                ins[i] = wcache[key][0]
            elif x in renamed or x in params:
                ins[i] = qdq(x)
        # bias: int32 with scale s_x * s_w,c (Conv, Gemm)
        if n.op_type in ("Conv", "Gemm") and len(ins) > 2 and ins[2] in inits and n.input[1] in inits \
                and n.input[0] in params:
            b = numpy_helper.to_array(inits[ins[2]]).astype(np.float32)
            ws = wcache[(n.input[1], weight_axis(n))][1]
            if b.ndim == 1 and b.shape[0] == ws.shape[0]:
                bs = (params[n.input[0]][0] * ws).astype(np.float32)
                bq = np.round(b / bs).astype(np.int64)
                if np.abs(bq).max(initial=0) < 2 ** 31 - 1:
                    base = n.output[0] + "_b"
                    new_inits += [numpy_helper.from_array(bq.astype(np.int32), base + "q"),
                                  numpy_helper.from_array(bs, base + "s"),
                                  numpy_helper.from_array(np.zeros(bs.shape, np.int32), base + "zp")]
                    nodes.append(helper.make_node("DequantizeLinear", [base + "q", base + "s", base + "zp"], [base + "dq"],
                                                  name=base + "dq", axis=0))
                    ins[2] = base + "dq"
        y = n.output[0]
        if y in graph_outs:  # the op writes y_f; Q/DQ ends in the graph output's name
            n.output[0] = y + "_f"
            s, zp = params[y]
            new_inits += [numpy_helper.from_array(np.array(s, np.float32), y + "_qs"),
                          numpy_helper.from_array(np.array(zp, np.uint8), y + "_qzp")]
            n.input[:] = ins
            nodes.append(n)
            nodes.append(helper.make_node("QuantizeLinear", [y + "_f", y + "_qs", y + "_qzp"], [y + "_q"]))
            nodes.append(helper.make_node("DequantizeLinear", [y + "_q", y + "_qs", y + "_qzp"], [y]))
            quanta[y] = float(s)
            continue
        n.input[:] = ins
        nodes.append(n)
        # consumers of y read its Q/DQ copy (made right after the op, so the graph stays sorted)
        out_rename[y] = qdq(y)
    del g.node[:]
    g.node.extend(nodes)
    used = {x for n in nodes for x in n.input}
    keep = [t for t in g.initializer if t.name in used]  # float weights now read as int8
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    del g.value_info[:]
    return model, quanta


def quantize_file(src, manifest, dst):
    """Quantises model file src into dst; returns {graph output: its quantum}."""
    q, quanta = quantize(onnx.load(src), manifest, os.path.dirname(os.path.abspath(dst)))
    onnx.checker.check_model(q)
    onnx.save(q, dst)
    return quanta


def main():
    for name, s in quantize_file(*sys.argv[1:4]).items():
        print(f"quanta {name} {s:.9g}")


if __name__ == "__main__":
    main()
