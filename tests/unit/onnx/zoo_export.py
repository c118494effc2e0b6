#!/usr/bin/python3
"""zoo_export.py — exports the conv-net fixtures of test_onnx_zoo with Debian's python3-torch
and python3-torchvision (random weights, fixed seed, eval mode): ResNet-18, ResNet-50,
MobileNetV2, EfficientNet-B0 and a small YOLO-style detector, each at opsets 13 and 17, and
int8 QDQ versions (qdq_quantize.py, calibrated by ONNX Runtime) of ResNet-18, MobileNetV2 and
torch_export.py's BERT-style encoder.

    /usr/bin/python3 -B tests/unit/onnx/zoo_export.py OUT_DIR          # the test's set
    /usr/bin/python3 -B tests/unit/onnx/zoo_export.py --bench OUT_DIR  # bench/onnx_vs_ort's

Writes OUT_DIR/<model>.onnx, per input set OUT_DIR/<set>.inputs (torch_export.py's manifest
format) and OUT_DIR/models.list, one line per model for test_onnx_torch's runner:
  "<model> <inputs manifest> float_out"  or  "<model> <inputs manifest> qdq [<output> <quantum>]..."
(float_out: compared relative to each output's largest magnitude, see test_onnx_torch.c)
--bench exports the float models at 224x224 (YOLO 320x320, opset 17, symbolic batch) plus the
int8 ResNet-18 / MobileNetV2, and prints one "file.onnx:C,H,W" spec per line for
bench/onnx_vs_ort. Test input sizes stay small (64..128 pixels) so the CI box exports and runs
them in seconds; BatchNorm statistics are set from one random batch (torch_export.calibrate),
so activations keep their scale through 50 layers. Exits 77 when a module is missing.
"""
import os
import sys

try:
    import numpy as np
    import onnx  # noqa: F401  (qdq_quantize needs it)
    import torch
    import torch.nn as nn
    import torchvision
except ImportError as e:
    print(f"skip: {e} (install python3-torch, python3-torchvision and python3-onnx)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qdq_quantize import quantize_file  # noqa: E402
from torch_export import Bert, calibrate, write_inputs  # noqa: E402


def conv_bn(cin, cout, k=3, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class C2f(nn.Module):
    """YOLOv8's split / bottleneck / concat block (Split or Slice, Add, Concat)."""

    def __init__(self, c):
        super().__init__()
        self.cv1, self.cv2 = conv_bn(c, c, 1), conv_bn(c + c // 2, c, 1)
        self.m = nn.Sequential(conv_bn(c // 2, c // 2), conv_bn(c // 2, c // 2))

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        return self.cv2(torch.cat([a, b, b + self.m(b)], 1))


class Yolo(nn.Module):
    """A small YOLO-style detector as YOLOv5 exports look: Conv/BN/SiLU backbone with C2f
    blocks and an SPPF-style max-pool stack, an FPN neck (nearest Upsample -> Resize, Concat),
    and per-level detect heads: conv -> view (b, anchors, 5 + classes, ny, nx) -> permute ->
    sigmoid -> grid decode (xy = (2 s - 0.5 + grid) * stride, wh = (2 s)^2 * anchor) -> concat
    of the levels into (b, boxes, 5 + classes)."""

    def __init__(self, classes=4, anchors=3):
        super().__init__()
        self.no, self.na = 5 + classes, anchors
        self.stem = nn.Sequential(conv_bn(3, 16, 3, 2), conv_bn(16, 32, 3, 2), C2f(32))
        self.p4 = nn.Sequential(conv_bn(32, 64, 3, 2), C2f(64))
        self.p5 = nn.Sequential(conv_bn(64, 64, 3, 2), C2f(64))
        self.sppf = conv_bn(64 * 4, 64, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.n4 = conv_bn(64 + 64, 64, 1)
        self.heads = nn.ModuleList([nn.Conv2d(64, anchors * self.no, 1), nn.Conv2d(64, anchors * self.no, 1)])
        self.register_buffer("anchor", torch.tensor([[10., 13, 16, 30, 33, 23], [30., 61, 62, 45, 59, 119]]).view(2, 1, 3, 1, 1, 2))

    def forward(self, x):
        c3 = self.stem(x)
        c4 = self.p4(c3)
        c5 = self.p5(c4)
        m1 = nn.functional.max_pool2d(c5, 5, 1, 2)
        m2 = nn.functional.max_pool2d(m1, 5, 1, 2)
        p5 = self.sppf(torch.cat([c5, m1, m2, nn.functional.max_pool2d(m2, 5, 1, 2)], 1))
        p4 = self.n4(torch.cat([self.up(p5), c4], 1))
        out = []
        for i, (f, stride) in enumerate(((p4, 16), (p5, 32))):
            y = self.heads[i](f)
            b, _, ny, nx = y.shape
            y = y.view(b, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous().sigmoid()
            gy, gx = torch.meshgrid(torch.arange(ny, dtype=torch.float32), torch.arange(nx, dtype=torch.float32), indexing="ij")
            grid = torch.stack((gx, gy), 2).view(1, 1, ny, nx, 2)
            xy = (y[..., 0:2] * 2 - 0.5 + grid) * stride
            wh = (y[..., 2:4] * 2) ** 2 * self.anchor[i]
            out.append(torch.cat((xy, wh, y[..., 4:]), -1).view(b, -1, self.no))
        return torch.cat(out, 1)


def net(name):
    tv = torchvision.models
    return {"resnet18": tv.resnet18, "resnet50": tv.resnet50, "mobilenetv2": tv.mobilenet_v2,
            "efficientnet_b0": tv.efficientnet_b0, "yolo": Yolo}[name]()


def export(model, args, path, opset, in_names, out_names, dyn):
    with torch.no_grad():
        torch.onnx.export(model, args, path, opset_version=opset, input_names=in_names, output_names=out_names,
                          dynamic_axes=dyn, do_constant_folding=True)
    print(f"exported {path}", flush=True)


def qdq(out, src, dst, inputs):
    """Quantises src (qdq_quantize.py) into dst; returns its [output, quantum] pairs."""
    quanta = quantize_file(os.path.join(out, src), os.path.join(out, inputs), os.path.join(out, dst))
    print(f"quantized {dst}", flush=True)
    return [[k, f"{v:.9g}"] for k, v in quanta.items()]


def test_set(out):
    rng = np.random.default_rng(4321)
    # (model, batch, side): small images; ResNet-50 and EfficientNet-B0 at batch 1
    conv = [("resnet18", 2, 96), ("resnet50", 1, 96), ("mobilenetv2", 2, 96), ("efficientnet_b0", 1, 128), ("yolo", 1, 128)]
    lines = []
    for name, batch, side in conv:
        torch.manual_seed(1234)
        img = rng.standard_normal((batch, 3, side, side)).astype(np.float32)
        model = calibrate(net(name), (4, 3, side, side))
        write_inputs(out, name, [("image", img)])
        for opset in (13, 17):
            export(model, (torch.from_numpy(img),), os.path.join(out, f"{name}_op{opset}.onnx"), opset, ["image"],
                   ["output"], {"image": {0: "batch"}})
            lines.append(f"{name}_op{opset} {name}.inputs float_out")
    # int8 QDQ: calibrated on the test's own inputs (the ranges cover what is compared)
    torch.manual_seed(1234)
    ids = rng.integers(0, 100, size=(2, 12)).astype(np.int64)
    mask = np.ones((2, 12), dtype=np.int64)
    mask[1, 9:] = 0
    write_inputs(out, "bert", [("input_ids", ids), ("attention_mask", mask)])
    export(Bert(), (torch.from_numpy(ids), torch.from_numpy(mask)), os.path.join(out, "bert_op13.onnx"), 13,
           ["input_ids", "attention_mask"], ["last_hidden_state", "pooled"],
           {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}})
    for name in ("resnet18", "mobilenetv2", "bert"):  # per-axis DequantizeLinear needs opset 13
        q = qdq(out, f"{name}_op13.onnx", f"{name}_op13_int8.onnx", f"{name}.inputs")
        lines.append(f"{name}_op13_int8 {name}.inputs qdq " + " ".join(" ".join(p) for p in q))
    with open(os.path.join(out, "models.list"), "w") as f:
        f.write("\n".join(lines) + "\n")


def bench_set(out):
    rng = np.random.default_rng(4321)
    specs = []
    for name in ("resnet18", "resnet50", "mobilenetv2", "efficientnet_b0", "yolo"):
        torch.manual_seed(1234)
        side = 320 if name == "yolo" else 224
        img = rng.standard_normal((1, 3, side, side)).astype(np.float32)
        model = calibrate(net(name), (4, 3, side, side))
        export(model, (torch.from_numpy(img),), os.path.join(out, f"{name}.onnx"), 17, ["image"], ["output"],
               {"image": {0: "batch"}, "output": {0: "batch"}})
        specs.append(f"{name}.onnx:3,{side},{side}")
        if name in ("resnet18", "mobilenetv2"):
            write_inputs(out, name, [("image", img)])
            qdq(out, f"{name}.onnx", f"{name}_int8.onnx", f"{name}.inputs")
            specs.append(f"{name}_int8.onnx:3,{side},{side}")
    with open(os.path.join(out, "specs"), "w") as f:
        f.write("\n".join(os.path.join(out, s) for s in specs) + "\n")


def main():
    bench = sys.argv[1] == "--bench"
    out = sys.argv[2 if bench else 1]
    (bench_set if bench else test_set)(out)


if __name__ == "__main__":
    main()
