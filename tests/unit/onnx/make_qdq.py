#!/usr/bin/python3
"""make_qdq.py — writes int8-quantized test/bench models in ONNX Runtime's two formats:

  QDQ:       Q -> DQ -> Conv/MatMul (weights DQ(int8), bias DQ(int32)) [-> Relu] -> Q -> DQ ...
  QOperator: Q -> QLinearConv/QLinearMatMul -> ... -> DQ

  conv: x (N,3,H,W) float -> conv 3x3 (u8 act, s8 per-channel weights, int32 bias) -> Relu
        -> conv 3x3 stride 2 (u8 per-tensor weights, zero point 128) -> ... -> y float
  mlp:  x (N,K) float -> MatMul (s8 per-column weights) -> Relu -> MatMul (s8 per tensor) -> y

  /usr/bin/python3 make_qdq.py            # tests/unit/onnx/data/qdq_{conv,mlp}.onnx (small)
  /usr/bin/python3 make_qdq.py --bench D  # D/{qdq,qop}_{conv,mlp}.onnx (bench sizes, batch N)

Needs Debian's python3-onnx and python3-numpy. Weights are seeded, so files are reproducible."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def qweights(w, axis, signed=True, per_channel=True):
    """Symmetric int8 (or uint8 with zero point 128) quantization; per channel along axis."""
    red = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=red) if per_channel else np.array(np.abs(w).max())
    s = (np.maximum(amax, 1e-6) / 127.0).astype(np.float32)
    shape = [1] * w.ndim
    if per_channel:
        shape[axis] = -1
    q = np.clip(np.round(w / s.reshape(shape)), -127, 127)
    if signed:
        return q.astype(np.int8), s, np.zeros(s.shape, np.int8)
    return (q + 128).astype(np.uint8), s, np.full(s.shape, 128, np.uint8)


class Net:
    def __init__(self, qop):
        self.qop, self.nodes, self.inits, self.n = qop, [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}{self.n}"

    def init(self, p, a):
        nm = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(a), nm))
        return nm

    def node(self, op, ins, **attrs):
        out = self.name(op.lower() + "_")
        self.nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    def quant(self, x, s, z):  # float -> q: returns (q, s_name, z_name)
        sn, zn = self.init("s", np.float32(s)), self.init("z", z)
        return self.node("QuantizeLinear", [x, sn, zn]), sn, zn

    def layer(self, q, op, w, b, axis, signed_w, per_channel, s_out, z_out, relu, **attrs):
        """q = (tensor, scale, zp) of the input; returns the same for the output."""
        x, sx, zx = q
        wq, ws, wz = qweights(w, axis, signed_w, per_channel)
        wn, wsn, wzn = self.init("w", wq), self.init("ws", ws), self.init("wz", wz)
        son, zon = self.init("s", np.float32(s_out)), self.init("z", z_out)
        sxv = float(numpy_helper.to_array(next(i for i in self.inits if i.name == sx)))
        bq = None if b is None else np.round(b / (sxv * ws)).astype(np.int32)
        if self.qop:
            qop = "QLinearConv" if op == "Conv" else "QLinearMatMul"
            ins = [x, sx, zx, wn, wsn, wzn, son, zon] + ([self.init("b", bq)] if bq is not None else [])
            return self.node(qop, ins, **attrs), son, zon
        dq = self.node("DequantizeLinear", [x, sx, zx])
        dw = self.node("DequantizeLinear", [wn, wsn, wzn], **({"axis": axis} if per_channel else {}))
        ins = [dq, dw]
        if bq is not None:
            ins.append(self.node("DequantizeLinear", [self.init("b", bq), self.init("bs", (sxv * ws).astype(np.float32))],
                                 axis=0))
        y = self.node(op, ins, **attrs)
        if relu:
            y = self.node("Relu", [y])
        return self.node("QuantizeLinear", [y, son, zon]), son, zon

    def model(self, name, x_shape, q, y_shape):
        y = self.node("DequantizeLinear", list(q))
        g = helper.make_graph(self.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, y_shape)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_qdq")
        m.ir_version = 7
        onnx.checker.check_model(m)
        return m


def conv_net(qop, n, hw, chans, relu_zp0=0):
    """chans: output channels per 3x3 layer; odd layers stride 1 + Relu, even ones stride 2."""
    net = Net(qop)
    q = net.quant("x", 1 / 255, np.uint8(128))
    c, h = 3, hw
    for i, co in enumerate(chans):
        w = (rng.standard_normal((co, c, 3, 3)) * (1.5 / np.sqrt(c * 9))).astype(np.float32)
        b = (rng.standard_normal(co) * 0.05).astype(np.float32)
        relu, stride = i % 2 == 0, 1 if i % 2 == 0 else 2
        signed_w = i % 3 != 1  # one in three layers has uint8 weights (zero point 128), per tensor
        s_out, z_out = (2 / 255, np.uint8(relu_zp0 if i == 0 else 0)) if relu else (4 / 255, np.uint8(120))
        q = net.layer(q, "Conv", w, b, 0, signed_w, signed_w, s_out, z_out, relu,
                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride])
        c, h = co, (h - 1) // stride + 1
    return net.model("qdq_conv", [n, 3, hw, hw], q, [n, c, h, h])


def mlp(qop, n, dims):
    net = Net(qop)
    q = net.quant("x", 1 / 255, np.uint8(128))
    for i in range(len(dims) - 1):
        w = (rng.standard_normal((dims[i], dims[i + 1])) * (1.5 / np.sqrt(dims[i]))).astype(np.float32)
        last = i == len(dims) - 2
        s_out, z_out = (4 / 255, np.uint8(128)) if last else (2 / 255, np.uint8(0))
        q = net.layer(q, "MatMul", w, None, 1, True, not last, s_out, z_out, not last)
    return net.model("qdq_mlp", [n, dims[0]], q, [n, dims[-1]])


def seed(k):
    global rng
    rng = np.random.default_rng(k)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        d = sys.argv[2]
        os.makedirs(d, exist_ok=True)
        for qop, tag in ((False, "qdq"), (True, "qop")):
            seed(7)
            onnx.save(conv_net(qop, "N", 56, [32, 64, 64, 128, 128, 128]), os.path.join(d, f"{tag}_conv.onnx"))
            seed(8)
            onnx.save(mlp(qop, "N", [512, 1024, 1024, 10]), os.path.join(d, f"{tag}_mlp.onnx"))
        return
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    onnx.save(conv_net(False, 2, 11, [8, 16, 12]), os.path.join(here, "qdq_conv.onnx"))
    onnx.save(mlp(False, 3, [37, 50, 10]), os.path.join(here, "qdq_mlp.onnx"))
    seed(7)  # the first Relu before a Q with zero point 10: not dropped, so that layer stays FP32
    onnx.save(conv_net(False, 2, 11, [8, 16, 12], relu_zp0=10), os.path.join(here, "qdq_conv_relu10.onnx"))


if __name__ == "__main__":
    main()
