#!/usr/bin/python3
"""make_digits_model.py — trains a small MLP on scikit-learn's bundled 8x8 digits data
set with numpy, exports it to ONNX with onnx.helper, and writes a model folder for
`inferd serve`:

    OUT/config.json            dynamic batching settings
    OUT/1/model.onnx           input "pixels" [N,64] (0..16 scaled to 0..1), output "probabilities" [N,10]
    OUT/1/manifest.json        sha256 of model.onnx

Usage: /usr/bin/python3 scripts/make_digits_model.py demo-models/digits [--seed 0]
Prints the held-out test accuracy. Needs Debian's python3-numpy, python3-sklearn, python3-onnx.
"""
import argparse
import hashlib
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits


def train(x, y, hidden, epochs, lr, seed):
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((x.shape[1], hidden)).astype(np.float32) * np.sqrt(2.0 / x.shape[1])
    b1 = np.zeros(hidden, np.float32)
    w2 = rng.standard_normal((hidden, 10)).astype(np.float32) * np.sqrt(1.0 / hidden)
    b2 = np.zeros(10, np.float32)
    params = [w1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(10, dtype=np.float32)[y]
    t = 0
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            xb, yb = x[idx], onehot[idx]
            h = np.maximum(xb @ w1 + b1, 0)
            logits = h @ w2 + b2
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = (p - yb) / len(idx)
            grads = [None, None, h.T @ g, g.sum(0)]
            gh = (g @ w2.T) * (h > 0)
            grads[0] = xb.T @ gh
            grads[1] = gh.sum(0)
            t += 1
            for k, (param, grad) in enumerate(zip(params, grads)):  # Adam
                m[k] = 0.9 * m[k] + 0.1 * grad
                v[k] = 0.999 * v[k] + 0.001 * grad * grad
                param -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return params


def predict(params, x):
    w1, b1, w2, b2 = params
    logits = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    return logits.argmax(1)


def export(params, path):
    w1, b1, w2, b2 = params
    nodes = [helper.make_node("Gemm", ["pixels", "W1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Gemm", ["hr", "W2", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    g = helper.make_graph(nodes, "digits_mlp",
                          [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 64])],
                          [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
                          [numpy_helper.from_array(a, n) for a, n in ((w1, "W1"), (b1, "b1"), (w2, "W2"), (b2, "b2"))])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="inferd-make-digits")
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="model folder to write, e.g. demo-models/digits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=60)
    a = ap.parse_args()
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target
    order = np.random.default_rng(a.seed).permutation(len(x))
    split = int(len(x) * 0.8)
    tr, te = order[:split], order[split:]
    params = train(x[tr], y[tr], a.hidden, a.epochs, 0.003, a.seed)
    acc = float((predict(params, x[te]) == y[te]).mean())
    model_path = os.path.join(a.out, "1", "model.onnx")
    export(params, model_path)
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(a.out, "1", "manifest.json"), "w") as f:
        json.dump({"files": {"model.onnx": digest}}, f, indent=1)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump({"backend": "onnx", "max_batch_size": 64, "max_queue_size": 256,
                   "dynamic_batching": {"preferred_batch_size": [16, 64], "max_queue_delay_microseconds": 500}}, f, indent=1)
    # a sample request for the demo's curl examples
    with open(os.path.join(a.out, "sample_v2.json"), "w") as f:
        json.dump({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32",
                               "data": [round(float(v), 4) for v in x[te[0]]]}]}, f)
    print("digits MLP: %d train / %d test images, test accuracy %.4f (label of the sample: %d)"
          % (len(tr), len(te), acc, y[te[0]]))
    print("wrote", model_path)


if __name__ == "__main__":
    main()
