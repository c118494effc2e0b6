#!/usr/bin/python3
"""make_op_cases.py — writes node-test folders (the layout of ONNX's own suite: model.onnx
+ test_data_set_0/{input,output}_K.pb) for operator forms that libonnx-testdata 1.12 (ONNX
opset <= 17) does not cover, with numpy reference outputs:

- Gelu (opset 20), approximate "none" and "tanh"; Mish (opset 18);
- the opset-18 Reduce* forms (axes as an input; keepdims; noop_with_empty_axes);
- Range/ConstantOfShape/Expand/Where fed by a Shape chain, as torch exports them;
- the attribute forms of Clip, Slice, Squeeze, Unsqueeze, ReduceSum and TopK;
- MaxPool on rows wide enough for pool.c's vectorised interior: YOLO's SPPF 5x5 stride 1,
  ResNet's 3x3 stride 2 pad 1, 2x2 stride 2, ceil_mode, asymmetric pads, stride 3.

    /usr/bin/python3 tests/unit/onnx/make_op_cases.py OUT_DIR       # write, print names
    /usr/bin/python3 tests/unit/onnx/make_op_cases.py --check SUITE  # the ctest

--check writes the folders to a temp dir under $TMPDIR, runs the test_onnx_node_suite
binary SUITE on them and fails unless every folder passes (test_onnx_op_cases). Needs
Debian's python3-onnx and python3-numpy (exits 77 without).
"""
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"skip: {e} (install python3-onnx)")
    sys.exit(77)

F = TensorProto.FLOAT
I64 = TensorProto.INT64
rng = np.random.default_rng(20)
erf = np.vectorize(math.erf)


def case(out, name, nodes, inputs, outputs, feeds, expected, opset):
    """inputs/outputs: (name, elem_type, shape) lists; feeds/expected: numpy arrays."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_op_cases")
    model.ir_version = 8
    d = os.path.join(out, name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    for k, a in enumerate(feeds):
        with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a).SerializeToString())
    for k, a in enumerate(expected):
        with open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a).SerializeToString())
    print(name)


def gelu_cases(out):
    x = (rng.standard_normal((3, 4, 5)) * 3).astype(np.float32)
    xd = x.astype(np.float64)
    none = (0.5 * xd * (1 + erf(xd / math.sqrt(2)))).astype(np.float32)
    tanh = (0.5 * xd * (1 + np.tanh(math.sqrt(2 / math.pi) * (xd + 0.044715 * xd ** 3)))).astype(np.float32)
    for approx, want in (("none", none), ("tanh", tanh)):
        case(out, f"case_gelu_{approx}_opset20", [helper.make_node("Gelu", ["x"], ["y"], approximate=approx)],
             [("x", F, x.shape)], [("y", F, x.shape)], [x], [want], 20)
    mish = (xd * np.tanh(np.log1p(np.exp(xd)))).astype(np.float32)
    case(out, "case_mish_opset18", [helper.make_node("Mish", ["x"], ["y"])],
         [("x", F, x.shape)], [("y", F, x.shape)], [x], [mish], 18)
    case(out, "case_gelu_default_opset20", [helper.make_node("Gelu", ["x"], ["y"])],
         [("x", F, x.shape)], [("y", F, x.shape)], [x], [none], 20)


def reduce_cases(out):
    x0 = rng.uniform(-2.0, 2.0, (2, 3, 4)).astype(np.float32)
    fns = {
        "ReduceMax": np.max, "ReduceMin": np.min, "ReduceProd": np.prod, "ReduceL1": lambda a, **k: np.sum(np.abs(a), **k),
        "ReduceL2": lambda a, **k: np.sqrt(np.sum(a * a, **k)), "ReduceLogSum": lambda a, **k: np.log(np.sum(a, **k)),
        "ReduceLogSumExp": lambda a, **k: np.log(np.sum(np.exp(a), **k)), "ReduceSumSquare": lambda a, **k: np.sum(a * a, **k),
        "ReduceMean": np.mean, "ReduceSum": np.sum,
    }
    for op, fn in fns.items():
        if op == "ReduceLogSum":  # needs positive sums
            x, xd = np.abs(x0) + 0.5, (np.abs(x0) + 0.5).astype(np.float64)
        else:
            x, xd = x0, x0.astype(np.float64)
        for axes, keep in (([0, 2], 1), ([-1], 0), ([], 1)):
            want = fn(xd, axis=tuple(axes) if axes else None, keepdims=bool(keep)).astype(np.float32)
            ax = np.array(axes, dtype=np.int64)
            case(out, f"case_{op.lower()}_axes{len(axes)}_keep{keep}_opset18",
                 [helper.make_node(op, ["x", "axes"], ["y"], keepdims=keep)],
                 [("x", F, x.shape), ("axes", I64, ax.shape)], [("y", F, want.shape)], [x, ax], [want], 18)
        # noop_with_empty_axes without axes: a reduction over no axis, element by element
        # (what ONNX Runtime computes: |x| for L1, x*x for SumSquare, log x for LogSum)
        want = fn(xd[..., None], axis=-1).astype(np.float32)
        case(out, f"case_{op.lower()}_noop_opset18", [helper.make_node(op, ["x"], ["y"], noop_with_empty_axes=1)],
             [("x", F, x.shape)], [("y", F, x.shape)], [x], [want], 18)


def mask_chain_case(out):
    """The chain torch exports for position ids and masked attention scores."""
    scores = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=np.int64)
    c = lambda name, v: helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, dtype=np.int64)))
    nodes = [
        helper.make_node("Shape", ["mask"], ["ms"]),
        c("one", 1), c("zero_i", 0), c("idx1", 1), c("shape1", [1]),
        helper.make_node("Gather", ["ms", "idx1"], ["len"], axis=0),
        helper.make_node("Range", ["zero_i", "len", "one"], ["pos"]),
        helper.make_node("Unsqueeze", ["pos", "zero1"], ["pos2"]),
        helper.make_node("Expand", ["pos2", "ms"], ["pos_b"]),
        helper.make_node("ConstantOfShape", ["shape1"], ["zeros"], value=numpy_helper.from_array(np.array([0], dtype=np.int64))),
        helper.make_node("Unsqueeze", ["mask", "ax12"], ["m4"]),
        helper.make_node("Equal", ["m4", "zeros"], ["is_pad"]),
        helper.make_node("Where", ["is_pad", "neg_inf", "scores"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["probs"], axis=-1),
    ]
    inits = [numpy_helper.from_array(np.array([0], dtype=np.int64), "zero1"),
             numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "ax12"),
             numpy_helper.from_array(np.array(-np.inf, dtype=np.float32), "neg_inf")]
    m4 = mask[:, None, None, :]
    masked = np.where(m4 == 0, -np.inf, scores)
    e = np.exp(masked - masked.max(-1, keepdims=True))
    probs = (e / e.sum(-1, keepdims=True)).astype(np.float32)
    pos_b = np.broadcast_to(np.arange(5, dtype=np.int64)[None, :], (2, 5)).copy()
    graph = helper.make_graph(nodes, "mask_chain",
                              [helper.make_tensor_value_info("mask", I64, [2, 5]),
                               helper.make_tensor_value_info("scores", F, [2, 1, 5, 5])],
                              [helper.make_tensor_value_info("probs", F, [2, 1, 5, 5]),
                               helper.make_tensor_value_info("pos_b", I64, [2, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_op_cases")
    model.ir_version = 7
    d = os.path.join(out, "case_mask_chain_opset13")
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    for k, a in enumerate([mask, scores]):
        with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a).SerializeToString())
    for k, a in enumerate([probs, pos_b]):
        with open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a).SerializeToString())
    print("case_mask_chain_opset13")


def old_form_cases(out):
    """The attribute forms of ops that moved attributes to inputs (Clip < 11, Slice < 10,
    Squeeze/Unsqueeze < 13, ReduceSum < 13, TopK < 10): the 1.12 data tests only the new ones."""
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    case(out, "case_clip_attrs_opset6", [helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7)],
         [("x", F, x.shape)], [("y", F, x.shape)], [x], [np.clip(x, -0.5, 0.7)], 6)
    case(out, "case_slice_attrs_opset9", [helper.make_node("Slice", ["x"], ["y"], starts=[1, -3], ends=[2, 100], axes=[0, 2])],
         [("x", F, x.shape)], [("y", F, (1, 3, 3))], [x], [x[1:2, :, -3:]], 9)
    x1 = x[:, None, :, :]
    case(out, "case_squeeze_attrs_opset11", [helper.make_node("Squeeze", ["x"], ["y"], axes=[1])],
         [("x", F, x1.shape)], [("y", F, x.shape)], [x1], [x], 11)
    case(out, "case_unsqueeze_attrs_opset11", [helper.make_node("Unsqueeze", ["x"], ["y"], axes=[1, -1])],
         [("x", F, x.shape)], [("y", F, (2, 1, 3, 4, 1))], [x], [x[:, None, :, :, None]], 11)
    case(out, "case_reducesum_attrs_opset11", [helper.make_node("ReduceSum", ["x"], ["y"], axes=[0, 2], keepdims=0)],
         [("x", F, x.shape)], [("y", F, (3,))], [x], [x.astype(np.float64).sum(axis=(0, 2)).astype(np.float32)], 11)
    order = np.argsort(-x, axis=-1, kind="stable")[..., :2]
    case(out, "case_topk_attr_opset1", [helper.make_node("TopK", ["x"], ["v", "i"], k=2)],
         [("x", F, x.shape)], [("v", F, (2, 3, 2)), ("i", I64, (2, 3, 2))], [x],
         [np.take_along_axis(x, order, -1), order.astype(np.int64)], 1)


def maxpool_ref(x, k, s, pads, ceil=False):
    n, c, h, w = x.shape
    pt, pl, pb, pr = pads
    rnd = math.ceil if ceil else math.floor
    oh = rnd((h + pt + pb - k[0]) / s[0]) + 1
    ow = rnd((w + pl + pr - k[1]) / s[1]) + 1
    if ceil:  # the last window must start inside the input or the left/top pad
        oh -= (oh - 1) * s[0] >= h + pt
        ow -= (ow - 1) * s[1] >= w + pl
    xp = np.full((n, c, h + pt + pb + k[0] + s[0], w + pl + pr + k[1] + s[1]), -np.inf, np.float32)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    y = np.full((n, c, oh, ow), -np.inf, np.float32)
    for ky in range(k[0]):
        for kx in range(k[1]):
            y = np.maximum(y, xp[:, :, ky:ky + oh * s[0]:s[0], kx:kx + ow * s[1]:s[1]])
    return y


def maxpool_cases(out):
    x = rng.standard_normal((1, 3, 21, 37)).astype(np.float32)
    for name, k, s, pads, ceil in (("k5s1p2", (5, 5), (1, 1), (2, 2, 2, 2), 0),
                                   ("k3s2p1", (3, 3), (2, 2), (1, 1, 1, 1), 0),
                                   ("k2s2", (2, 2), (2, 2), (0, 0, 0, 0), 0),
                                   ("k3s2_ceil", (3, 3), (2, 2), (0, 0, 0, 0), 1),
                                   ("k3s3_asym", (3, 2), (3, 3), (0, 2, 1, 0), 0)):
        y = maxpool_ref(x, k, s, pads, bool(ceil))
        case(out, f"case_maxpool_{name}", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=list(k),
                                                                strides=list(s), pads=list(pads), ceil_mode=ceil)],
             [("x", F, x.shape)], [("y", F, y.shape)], [x], [y], 12)
    x = rng.standard_normal((1, 2, 70, 70)).astype(np.float32)  # h * ow > pool.c's MAXPOOL_HBUF
    y = maxpool_ref(x, (3, 3), (2, 2), (1, 1, 1, 1))
    case(out, "case_maxpool_k3s2p1_tall", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                                                            pads=[1, 1, 1, 1])],
         [("x", F, x.shape)], [("y", F, y.shape)], [x], [y], 12)


def write_all(out):
    maxpool_cases(out)
    old_form_cases(out)
    gelu_cases(out)
    reduce_cases(out)
    mask_chain_case(out)


def check(suite):
    tmp = tempfile.mkdtemp(prefix="inferd-op-cases-")
    try:
        write_all(tmp)
        dirs = sorted(os.path.join(tmp, d) for d in os.listdir(tmp))
        r = subprocess.run([suite] + dirs, capture_output=True, text=True, timeout=240)
        sys.stdout.write(r.stdout)
        m = re.search(r"(\d+) passed, (\d+) failed", r.stdout)
        if r.returncode != 0 or not m or int(m.group(1)) != len(dirs):
            print(f"FAIL: {len(dirs)} cases, suite exit {r.returncode}", file=sys.stderr)
            return 1
        print(f"ok: all {len(dirs)} generated cases pass")
        return 0
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    write_all(sys.argv[1])
