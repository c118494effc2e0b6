#!/usr/bin/python3
"""make_tiny.py — writes data/tiny_mlp.onnx and data/tiny_mlp_expected.txt for test_onnx_tiny.c.

The model exercises what the openwakeword MLPs do not: a symbolic batch dim ("N"),
initializers in typed fields (float_data, int64_data) rather than raw_data, a Constant
node, and a Reshape whose shape comes from a Shape -> Gather -> Unsqueeze -> Concat chain
(constant-folded at plan time), then MatMul, Add, Tanh, Softmax(axis=-1), Transpose, Erf.
Expected outputs are computed with numpy for batches 1, 3 and 5 on inputs
x[i] = sin(0.37 * i + b) (b = batch size). Run with Debian's python3 (needs onnx, numpy).
"""
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
W = rng.standard_normal((12, 8)).astype(np.float32) * 0.5
B = rng.standard_normal((8,)).astype(np.float32) * 0.1

w_init = helper.make_tensor("W", TensorProto.FLOAT, W.shape, W.flatten().tolist())  # float_data
b_init = helper.make_tensor("B", TensorProto.FLOAT, B.shape, B.flatten().tolist())
idx0 = helper.make_tensor("idx0", TensorProto.INT64, [], [0])                       # int64_data
minus1 = helper.make_tensor("minus1", TensorProto.INT64, [1], [-1])
nodes = [
    helper.make_node("Shape", ["x"], ["xs"]),
    helper.make_node("Gather", ["xs", "idx0"], ["n"], axis=0),
    helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
    helper.make_node("Constant", [], ["ax0"], value=helper.make_tensor("c", TensorProto.INT64, [1], [0])),
    helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
    helper.make_node("Reshape", ["x", "shape"], ["flat"]),
    helper.make_node("MatMul", ["flat", "W"], ["mm"]),
    helper.make_node("Add", ["mm", "B"], ["h"]),
    helper.make_node("Tanh", ["h"], ["t"]),
    helper.make_node("Softmax", ["t"], ["probs"], axis=-1),
    helper.make_node("Transpose", ["t"], ["tt"], perm=[1, 0]),
    helper.make_node("Erf", ["tt"], ["erf_t"]),
]
graph = helper.make_graph(
    nodes, "tiny_mlp",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 8]),
     helper.make_tensor_value_info("erf_t", TensorProto.FLOAT, [8, "N"])],
    [w_init, b_init, idx0, minus1])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_tiny")
# not onnx.checker: the Constant node is deliberately listed after its consumer (tests sorting)
os.makedirs(os.path.join(here, "data"), exist_ok=True)
onnx.save(model, os.path.join(here, "data", "tiny_mlp.onnx"))

erf = np.vectorize(math.erf)
lines = []
for n in (1, 3, 5):
    x = np.sin(0.37 * np.arange(n * 12) + n).astype(np.float32).reshape(n, 3, 4)
    t = np.tanh(x.reshape(n, -1) @ W + B)
    e = np.exp(t - t.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    lines.append(f"{n} 0 " + " ".join(f"{v:.9g}" for v in p.flatten()))
    lines.append(f"{n} 1 " + " ".join(f"{v:.9g}" for v in erf(t.T).flatten()))
with open(os.path.join(here, "data", "tiny_mlp_expected.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("wrote data/tiny_mlp.onnx and data/tiny_mlp_expected.txt")
