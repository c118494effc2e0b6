"""spm_model.py — write a SentencePiece model file from a GGUF's tokenizer.* arrays.

Used by bench/tokenizer_vs_sentencepiece and tests/integration/test_tokenizer_vs_sentencepiece.py
to run Google's SentencePiece (Debian python3-sentencepiece) on exactly the vocabulary inferd
reads. The model is what LLaMA's tokenizer.model holds: BPE, byte fallback, identity normalizer
with the dummy "▁" prefix, whitespace escaped, extra whitespace kept.

    from spm_model import read_gguf_kv, write_spm_model
    write_spm_model(read_gguf_kv("m.gguf"), "/tmp/m.model")
"""
import struct

_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_gguf_kv(path):
    """The metadata of a GGUF file as a dict (arrays as lists, strings decoded)."""
    b = open(path, "rb").read()
    if b[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    n_kv = struct.unpack_from("<Q", b, 16)[0]
    off = 24

    def val(t, off):
        if t == 8:
            (n,) = struct.unpack_from("<Q", b, off)
            return b[off + 8: off + 8 + n].decode("utf-8", "surrogateescape"), off + 8 + n
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, off)
            off += 12
            out = []
            for _ in range(n):
                v, off = val(et, off)
                out.append(v)
            return out, off
        f = "<" + _FMT[t]
        return struct.unpack_from(f, b, off)[0], off + struct.calcsize(f)

    kv = {}
    for _ in range(n_kv):
        (n,) = struct.unpack_from("<Q", b, off)
        key = b[off + 8: off + 8 + n].decode()
        off += 8 + n
        (t,) = struct.unpack_from("<I", b, off)
        kv[key], off = val(t, off + 4)
    return kv


def _varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        x = v & 0x7F
        v >>= 7
        out.append(x | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _field(num, wire, payload):
    return _varint(num << 3 | wire) + payload


def _len_field(num, data):
    return _field(num, 2, _varint(len(data)) + data)


def write_spm_model(kv, path):
    """Serializes a sentencepiece ModelProto (pieces=1, trainer_spec=2, normalizer_spec=3)."""
    toks = kv["tokenizer.ggml.tokens"]
    scores = kv.get("tokenizer.ggml.scores", [0.0] * len(toks))
    types = kv.get("tokenizer.ggml.token_type", [1] * len(toks))
    model = bytearray()
    for p, s, t in zip(toks, scores, types):
        piece = _len_field(1, p.encode("utf-8", "surrogateescape")) + _field(2, 5, struct.pack("<f", s)) + \
            _field(3, 0, _varint(t))
        model += _len_field(1, piece)
    # TrainerSpec: model_type=3 (BPE=2), vocab_size=4, byte_fallback=35, unk/bos/eos ids 40/41/42
    trainer = _field(3, 0, _varint(2)) + _field(4, 0, _varint(len(toks))) + _field(35, 0, _varint(1)) + \
        _field(40, 0, _varint(kv.get("tokenizer.ggml.unknown_token_id", 0))) + \
        _field(41, 0, _varint(kv.get("tokenizer.ggml.bos_token_id", 1))) + \
        _field(42, 0, _varint(kv.get("tokenizer.ggml.eos_token_id", 2)))
    # NormalizerSpec: name=1, add_dummy_prefix=3, remove_extra_whitespaces=4, escape_whitespaces=5
    prefix = 1 if kv.get("tokenizer.ggml.add_space_prefix", True) else 0
    norm = _len_field(1, b"identity") + _field(3, 0, _varint(prefix)) + _field(4, 0, _varint(0)) + \
        _field(5, 0, _varint(1))
    model += _len_field(2, trainer) + _len_field(3, norm)
    with open(path, "wb") as f:
        f.write(bytes(model))
