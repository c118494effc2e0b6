#!/usr/bin/python3
"""make_ops_extra.py — writes data/ops_extra/<case>/ (model.onnx + test_data_set_0/) for the
op forms ONNX's 1.12 node suite lacks: opset 18-21 forms (Split num_outputs, Pad wrap and
axes, GroupNormalization, ScatterElements/ScatterND max/min, blocked DequantizeLinear),
per-axis and int8 quantized kernels, and more Einsum subscripts. Same layout as the node
suite, so test_onnx_node_suite runs them (ctest test_onnx_ops_extra). Expected outputs are
computed here with numpy. Run with Debian's python3 (needs onnx, numpy)."""
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ops_extra")
rng = np.random.default_rng(12)
TYPES = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE, np.int64: TensorProto.INT64,
         np.int32: TensorProto.INT32, np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8}


def case(name, op, inputs, outputs, opset, **attrs):
    """inputs/outputs: lists of (name, array); an input named '' is an omitted optional."""
    d = os.path.join(here, name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    node = helper.make_node(op, [n for n, _ in inputs], [n for n, _ in outputs], **attrs)
    vi = lambda n, a: helper.make_tensor_value_info(n, TYPES[a.dtype.type], list(a.shape))
    g = helper.make_graph([node], name, [vi(n, a) for n, a in inputs if n], [vi(n, a) for n, a in outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_ops_extra")
    m.ir_version = 8
    onnx.save(m, os.path.join(d, "model.onnx"))
    for kind, lst in (("input", [x for x in inputs if x[0]]), ("output", outputs)):
        for i, (n, a) in enumerate(lst):
            with open(os.path.join(d, "test_data_set_0", f"{kind}_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(a, n).SerializeToString())


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def main():
    shutil.rmtree(here, ignore_errors=True)
    # Split, opset 18: num_outputs with a smaller last part
    x = f32(2, 7)
    case("split_num_outputs_18", "Split", [("x", x)], [("a", x[:, :3]), ("b", x[:, 3:6]), ("c", x[:, 6:])], 18,
         axis=1, num_outputs=3)
    # Split, opset 11: sizes as an attribute
    case("split_attr_11", "Split", [("x", x)], [("a", x[:, :2]), ("b", x[:, 2:])], 11, axis=1, split=[2, 5])
    # Pad, opset 2: pads and value as attributes
    x = f32(2, 3)
    case("pad_attr_2", "Pad", [("x", x)], [("y", np.pad(x, ((1, 0), (0, 2)), constant_values=1.5))], 2,
         pads=[1, 0, 0, 2], value=1.5)
    # Pad, opset 19: wrap and edge with the axes input, a negative pad crops
    x = f32(2, 3, 4)
    pads = np.array([2, -1, 3, 1], np.int64)
    axes = np.array([2, 0], np.int64)
    w = np.pad(x, ((0, 0), (0, 0), (2, 3)), mode="wrap")[:, :, :]
    w = np.pad(w, ((0, 1), (0, 0), (0, 0)), mode="wrap")[1:]
    case("pad_wrap_axes_19", "Pad", [("x", x), ("pads", pads), ("", None), ("axes", axes)], [("y", w)], 19,
         mode="wrap")
    e = np.pad(x, ((0, 0), (2, 2), (1, 0)), mode="edge")
    case("pad_edge_18", "Pad", [("x", x), ("pads", np.array([0, 2, 1, 0, 2, 0], np.int64))], [("y", e)], 18,
         mode="edge")
    r = np.pad(x, ((0, 0), (2, 1), (3, 3)), mode="reflect")
    case("pad_reflect_13", "Pad", [("x", x), ("pads", np.array([0, 2, 3, 0, 1, 3], np.int64))], [("y", r)], 13,
         mode="reflect")
    # GroupNormalization: opset 18 (scale per group), opset 21 (scale per channel)
    x = f32(2, 6, 3, 2)
    for opset, per in ((18, 3), (21, 6)):
        sc, bi = f32(per), f32(per)
        g = x.reshape(2, 3, -1).astype(np.float64)
        nrm = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-4)).reshape(x.shape)
        s = np.repeat(sc, 6 // per) if per == 3 else sc
        b = np.repeat(bi, 6 // per) if per == 3 else bi
        y = (nrm * s.reshape(1, 6, 1, 1) + b.reshape(1, 6, 1, 1)).astype(np.float32)
        case(f"group_norm_{opset}", "GroupNormalization", [("x", x), ("scale", sc), ("bias", bi)], [("y", y)], opset,
             num_groups=3, epsilon=1e-4)
    # ScatterElements reduction max (opset 18), ScatterND reduction min (opset 18)
    data = f32(3, 4)
    idx = np.array([[1, 0, 2, 1], [1, 2, 0, 1]], np.int64)
    upd = f32(2, 4)
    want = data.copy()
    for i in range(2):
        for j in range(4):
            want[idx[i, j], j] = max(want[idx[i, j], j], upd[i, j])
    case("scatter_elements_max_18", "ScatterElements", [("data", data), ("indices", idx), ("updates", upd)],
         [("y", want)], 18, axis=0, reduction="max")
    data = f32(4, 3)
    idx = np.array([[2], [0], [2]], np.int64)
    upd = f32(3, 3)
    want = data.copy()
    for i in range(3):
        want[idx[i, 0]] = np.minimum(want[idx[i, 0]], upd[i])
    case("scatter_nd_min_18", "ScatterND", [("data", data), ("indices", idx), ("updates", upd)], [("y", want)], 18,
         reduction="min")
    # DequantizeLinear, opset 21: int8 blocks of 2 along axis 1
    xq = rng.integers(-128, 128, (2, 5), dtype=np.int8)
    sc = (rng.random((2, 3)) + 0.1).astype(np.float32)
    zp = rng.integers(-5, 5, (2, 3), dtype=np.int8)
    rep = lambda a: np.repeat(a, 2, axis=1)[:, :5]
    y = ((xq.astype(np.int32) - rep(zp).astype(np.int32)).astype(np.float32) * rep(sc)).astype(np.float32)
    case("dequantize_blocked_21", "DequantizeLinear", [("x", xq), ("scale", sc), ("zp", zp)], [("y", y)], 21,
         axis=1, block_size=2)
    # QuantizeLinear per axis, int8, axis 0 (opset 13)
    x = f32(3, 4) * 4
    sc = np.array([0.05, 0.1, 0.02], np.float32)
    zp = np.array([-3, 0, 7], np.int8)
    q = np.clip(np.rint(x / sc[:, None]) + zp[:, None], -128, 127).astype(np.int8)
    case("quantize_axis0_int8_13", "QuantizeLinear", [("x", x), ("scale", sc), ("zp", zp)], [("y", q)], 13, axis=0)
    # Einsum: outer product, bilinear form, implicit matmul, FP32 batch matmul with ellipsis
    a, b = f32(3), f32(4)
    case("einsum_outer", "Einsum", [("a", a), ("b", b)], [("y", np.einsum("i,j->ij", a, b))], 12, equation="i,j->ij")
    x1, w3, x2 = f32(2, 3), f32(5, 3, 4), f32(2, 4)
    case("einsum_bilinear", "Einsum", [("x1", x1), ("w", w3), ("x2", x2)],
         [("y", np.einsum("bn,anm,bm->ba", x1, w3, x2).astype(np.float32))], 12, equation="bn,anm,bm->ba")
    p, q2 = f32(3, 5), f32(5, 2)
    case("einsum_implicit_matmul", "Einsum", [("p", p), ("q", q2)], [("y", (p @ q2).astype(np.float32))], 12,
         equation="ij,jk")
    p, q2 = f32(2, 3, 4, 5), f32(2, 3, 5, 2)
    case("einsum_ellipsis_matmul", "Einsum", [("p", p), ("q", q2)], [("y", (p @ q2).astype(np.float32))], 12,
         equation="...ij,...jk->...ik")
    q, k = f32(2, 3, 4, 5), f32(2, 3, 6, 5)
    case("einsum_attention_scores", "Einsum", [("q", q), ("k", k)],
         [("y", np.einsum("bhqd,bhkd->bhqk", q, k).astype(np.float32))], 12, equation="bhqd,bhkd->bhqk")
    p, q2 = f32(4, 3), f32(3, 5)
    case("einsum_matmul_transposed_out", "Einsum", [("p", p), ("q", q2)], [("y", (p @ q2).T.copy())], 12,
         equation="ij,jk->ki")
    x, w = f32(2, 7, 4), f32(6, 4)
    case("einsum_linear_bias_free", "Einsum", [("x", x), ("w", w)], [("y", np.einsum("bti,oi->bto", x, w))], 12,
         equation="bti,oi->bto")
    # MatMulInteger: int8 x int8, per-row A zero points, batched A
    A = rng.integers(-128, 128, (2, 3, 5), dtype=np.int8)
    B = rng.integers(-128, 128, (5, 4), dtype=np.int8)
    za = np.array([1, -2, 3], np.int8)
    zb = np.array(-4, np.int8)
    y = (A.astype(np.int32) - za.astype(np.int32)[:, None]) @ (B.astype(np.int32) - np.int32(zb))
    case("matmulinteger_int8_rowzp", "MatMulInteger", [("A", A), ("B", B), ("za", za), ("zb", zb)],
         [("y", y.astype(np.int32))], 10)
    # QLinearMatMul: uint8 A, int8 B, int8 output, batched A against 2-D B
    A = rng.integers(0, 256, (2, 3, 6), dtype=np.uint8)
    B = rng.integers(-128, 128, (6, 4), dtype=np.int8)
    sa, za, sb, zb, sy, zy = (np.array(0.02, np.float32), np.array(128, np.uint8), np.array(0.01, np.float32),
                              np.array(3, np.int8), np.array(0.05, np.float32), np.array(-10, np.int8))
    acc = (A.astype(np.int32) - np.int32(za)) @ (B.astype(np.int32) - np.int32(zb))
    y = np.clip(np.rint(acc.astype(np.float32) * np.float32(sa * sb / sy)) + zy, -128, 127).astype(np.int8)
    case("qlinearmatmul_u8s8_batched", "QLinearMatMul",
         [("A", A), ("sa", sa), ("za", za), ("B", B), ("sb", sb), ("zb", zb), ("sy", sy), ("zy", zy)], [("y", y)], 10)
    # QLinearMatMul large enough that 2 threads split its rows
    A = rng.integers(0, 256, (70, 256), dtype=np.uint8)
    B = rng.integers(0, 256, (256, 40), dtype=np.uint8)
    za, zb = np.array(7, np.uint8), np.array(200, np.uint8)
    acc = (A.astype(np.int32) - 7) @ (B.astype(np.int32) - 200)
    sa, sb, sy, zy = np.array(0.01, np.float32), np.array(0.02, np.float32), np.array(4.0, np.float32), np.array(128, np.uint8)
    y = np.clip(np.rint(acc.astype(np.float32) * np.float32(sa * sb / sy)) + 128, 0, 255).astype(np.uint8)
    case("qlinearmatmul_u8u8_large", "QLinearMatMul",
         [("A", A), ("sa", sa), ("za", za), ("B", B), ("sb", sb), ("zb", zb), ("sy", sy), ("zy", zy)], [("y", y)], 10)
    # QLinearConv: uint8 x, int8 w with per-channel scale, bias, 2 groups, stride 2, pads
    x = rng.integers(0, 256, (1, 4, 7, 6), dtype=np.uint8)
    w = rng.integers(-128, 128, (6, 2, 3, 3), dtype=np.int8)
    sx, zx = np.array(0.03, np.float32), np.array(100, np.uint8)
    sw = (rng.random(6) * 0.02 + 0.005).astype(np.float32)
    zw = np.zeros(6, np.int8)
    sy, zy = np.array(0.5, np.float32), np.array(120, np.uint8)
    bias = rng.integers(-500, 500, 6).astype(np.int32)
    xp = np.pad(x.astype(np.int32) - 100, ((0, 0), (0, 0), (1, 1), (1, 1)))
    oh, ow = (7 + 2 - 3) // 2 + 1, (6 + 2 - 3) // 2 + 1
    acc = np.zeros((1, 6, oh, ow), np.int32)
    for m in range(6):
        g = m // 3
        for i in range(oh):
            for j in range(ow):
                acc[0, m, i, j] = (xp[0, 2 * g:2 * g + 2, 2 * i:2 * i + 3, 2 * j:2 * j + 3] * w[m].astype(np.int32)).sum()
    acc += bias.reshape(1, 6, 1, 1)
    y = np.clip(np.rint(acc.astype(np.float32) * (sx * sw / sy).astype(np.float32).reshape(1, 6, 1, 1)) + 120, 0, 255)
    case("qlinearconv_perchannel_group", "QLinearConv",
         [("x", x), ("sx", sx), ("zx", zx), ("w", w), ("sw", sw), ("zw", zw), ("sy", sy), ("zy", zy), ("B", bias)],
         [("y", y.astype(np.uint8))], 10, group=2, strides=[2, 2], pads=[1, 1, 1, 1], kernel_shape=[3, 3])


def text_model():
    """data/text_ops.onnx for test_onnx_bytes.c: string views moved by shape ops."""
    nodes = [
        helper.make_node("Transpose", ["text"], ["t"], perm=[1, 0]),
        helper.make_node("Concat", ["text", "t"], ["cat"], axis=0),
        helper.make_node("Gather", ["cat", "idx"], ["picked"], axis=1),
        helper.make_node("Reshape", ["picked", "flat"], ["out"]),
    ]
    g = helper.make_graph(nodes, "text_ops", [helper.make_tensor_value_info("text", TensorProto.STRING, ["N", "N"])],
                          [helper.make_tensor_value_info("out", TensorProto.STRING, [None])],
                          [numpy_helper.from_array(np.array([1], np.int64), "idx"),
                           numpy_helper.from_array(np.array([-1], np.int64), "flat")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_ops_extra")
    m.ir_version = 8
    onnx.save(m, os.path.join(os.path.dirname(here), "text_ops.onnx"))


if __name__ == "__main__":
    main()
    text_model()
