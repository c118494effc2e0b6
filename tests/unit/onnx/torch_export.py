#!/usr/bin/python3
"""torch_export.py — exports the real-model fixtures of test_onnx_torch with Debian's
python3-torch / python3-torchvision: a BERT-style encoder (2 layers, hidden 64, attention
mask input), a ViT-style classifier, a CRNN-style recurrent tail (bidirectional LSTM + GRU)
and torchvision's MobileNetV3-small, each at opsets 13 and 17, with random weights (fixed
seed), plus one set of inputs per model.

    /usr/bin/python3 tests/unit/onnx/torch_export.py OUT_DIR

Writes OUT_DIR/<model>_op<opset>.onnx and, per model, OUT_DIR/<model>.inputs, a text
manifest with one line per graph input, "<name> <dtype> <rank> <d0> ... <file>", where
<file> holds the raw little-endian values (dtype float32 or int64), and OUT_DIR/models.list,
"<model> <inputs manifest> float" per model (the list test_onnx_torch runs). Exits 77 when torch or
torchvision is missing (the test then skips).
"""
import math
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision
except ImportError as e:  # the ctest skips on 77
    print(f"skip: {e} (install python3-torch and python3-torchvision)")
    sys.exit(77)


class Attention(nn.Module):
    """Multi-head self-attention written as BERT implementations do: view/permute through
    x.size() (Shape/Gather/Concat/Reshape chains once batch and length are dynamic)."""

    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.dh = heads, hidden // heads
        self.q, self.k, self.v = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)

    def split(self, x):
        b, s = x.size(0), x.size(1)
        return x.view(b, s, self.heads, self.dh).permute(0, 2, 1, 3)

    def forward(self, x, mask=None):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, float("-inf"))  # Equal + Where
        p = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        return self.o(ctx.view(ctx.size(0), ctx.size(1), -1))


class Layer(nn.Module):
    def __init__(self, hidden, heads, ff, pre_norm):
        super().__init__()
        self.att, self.pre = Attention(hidden, heads), pre_norm
        self.n1, self.n2 = nn.LayerNorm(hidden, eps=1e-12), nn.LayerNorm(hidden, eps=1e-12)
        self.ff = nn.Sequential(nn.Linear(hidden, ff), nn.GELU(), nn.Linear(ff, hidden))

    def forward(self, x, mask=None):
        if self.pre:  # ViT
            x = x + self.att(self.n1(x), mask)
            return x + self.ff(self.n2(x))
        x = self.n1(x + self.att(x, mask))  # BERT
        return self.n2(x + self.ff(x))


class Bert(nn.Module):
    """BERT-style encoder: word + position (torch.arange -> Range, expand -> Expand) +
    token-type embeddings, an additive mask as HF builds it, and a masked_fill one."""

    def __init__(self, vocab=100, hidden=64, heads=4, layers=2, max_len=32):
        super().__init__()
        self.word, self.pos, self.typ = nn.Embedding(vocab, hidden), nn.Embedding(max_len, hidden), nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList([Layer(hidden, heads, hidden * 4, False) for _ in range(layers)])
        self.pool = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask):
        b, s = input_ids.size(0), input_ids.size(1)
        pos = torch.arange(s, dtype=torch.long).unsqueeze(0).expand(b, s)
        typ = torch.zeros_like(input_ids)
        x = self.norm(self.word(input_ids) + self.pos(pos) + self.typ(typ))
        mask = attention_mask[:, None, None, :]
        for i, layer in enumerate(self.layers):
            if i % 2 == 0:
                x = layer(x, mask)
            else:  # HF's additive form: (1 - mask) * finfo.min added to the scores
                add = (1.0 - mask.to(torch.float32)) * -10000.0
                x = layer.n1(x + layer.att.o(self._att_add(layer.att, x, add)))
                x = layer.n2(x + layer.ff(x))
        return x, torch.tanh(self.pool(x[:, 0]))

    @staticmethod
    def _att_add(att, x, add):
        q, k, v = att.split(att.q(x)), att.split(att.k(x)), att.split(att.v(x))
        p = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(att.dh) + add, dim=-1)
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), -1)


class Vit(nn.Module):
    """ViT-style classifier: 8x8 patches of a 32x32 image, a class token expanded to the
    batch, learned positions, 2 pre-norm layers, a linear head on the class token."""

    def __init__(self, hidden=64, heads=4, layers=2, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, hidden, 8, 8)
        self.cls = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, 17, hidden) * 0.02)
        self.layers = nn.ModuleList([Layer(hidden, heads, hidden * 2, True) for _ in range(layers)])
        self.norm, self.head = nn.LayerNorm(hidden), nn.Linear(hidden, classes)

    def forward(self, pixels):
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.size(0), -1, -1), x], dim=1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x)[:, 0])


class Recurrent(nn.Module):
    """A CRNN-style text-recognition tail: a bidirectional 2-layer LSTM and a GRU over a
    sequence of features, per-step class scores (torch exports ONNX LSTM / GRU ops)."""

    def __init__(self, feat=16, hidden=12, classes=7):
        super().__init__()
        self.lstm = nn.LSTM(feat, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(2 * hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.lstm(x)
        y, _ = self.gru(y)
        return self.out(y).log_softmax(-1)


def calibrate(model, shape):
    """Sets BatchNorm running statistics from one random batch, so that activations keep
    their scale through the network (with the default mean 0 / var 1 a randomly initialised
    MobileNet's logits shrink to ~1e-9 and compare nothing)."""
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average: one batch sets the statistics
    model.train()
    with torch.no_grad():
        model(torch.randn(*shape))
    model.eval()
    return model


def write_inputs(out, name, inputs):
    with open(os.path.join(out, f"{name}.inputs"), "w") as f:
        for iname, arr in inputs:
            fn = f"{name}.{iname}.bin"
            arr.tofile(os.path.join(out, fn))
            dt = {np.dtype("float32"): "float32", np.dtype("int64"): "int64"}[arr.dtype]
            f.write(f"{iname} {dt} {arr.ndim} {' '.join(str(d) for d in arr.shape)} {fn}\n")


def main():
    out = sys.argv[1]
    torch.manual_seed(1234)
    rng = np.random.default_rng(1234)
    ids = rng.integers(0, 100, size=(2, 12)).astype(np.int64)
    mask = np.ones((2, 12), dtype=np.int64)
    mask[1, 8:] = 0  # the second sequence is padded
    pix = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    img = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    seq = rng.standard_normal((2, 9, 16)).astype(np.float32)
    models = [
        ("bert", Bert(), (torch.from_numpy(ids), torch.from_numpy(mask)), ["input_ids", "attention_mask"],
         ["last_hidden_state", "pooled"], {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
         [("input_ids", ids), ("attention_mask", mask)]),
        ("vit", Vit(), (torch.from_numpy(pix),), ["pixels"], ["logits"], {"pixels": {0: "batch"}}, [("pixels", pix)]),
        ("recurrent", Recurrent(), (torch.from_numpy(seq),), ["features"], ["log_probs"],
         {"features": {0: "batch", 1: "steps"}}, [("features", seq)]),
        ("mobilenetv3", calibrate(torchvision.models.mobilenet_v3_small(), (8, 3, 224, 224)), (torch.from_numpy(img),), ["image"], ["logits"],
         {"image": {0: "batch"}}, [("image", img)]),
    ]
    lines = []
    for name, model, args, in_names, out_names, dyn, inputs in models:
        model.eval()
        write_inputs(out, name, inputs)
        for opset in (13, 17):
            path = os.path.join(out, f"{name}_op{opset}.onnx")
            with torch.no_grad():
                torch.onnx.export(model, args, path, opset_version=opset, input_names=in_names,
                                  output_names=out_names, dynamic_axes=dyn, do_constant_folding=True)
            print(f"exported {path}")
            lines.append(f"{name}_op{opset} {name}.inputs float")
    with open(os.path.join(out, "models.list"), "w") as f:  # what test_onnx_torch runs
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
