"""test_tokenizer_vs_reference_bpe.py — differential test of inferd's byte-level BPE against an
independent reference written here: OpenAI's original GPT-2 `bpe()` loop (merge every
occurrence of the lowest-ranked pair, repeat) over words from Python's `regex` module (Debian
python3-regex, which has \\p{..} classes) running the same pre-tokenizer patterns, with
USER_DEFINED tokens split out first as Hugging Face does. inferd uses a different regex engine
(PCRE2), a heap-based merge and its own hash tables, so agreement on seeded random strings
over gpt-2, mpt, starcoder, falcon and deepseek-coder is evidence for both
halves. Skips (77) without ../shared or python3-regex."""
import os
import random
import subprocess
import sys
import tempfile

try:
    import regex
except ImportError:
    print("SKIP: python3-regex not installed")
    sys.exit(77)

ROOT = os.environ["INFERD_ROOT"]
BUILD = os.environ["INFERD_BUILD"]
SHARED = os.environ.get("INFERD_SHARED", os.path.join(ROOT, "..", "shared"))
VOCAB_DIR = os.path.join(SHARED, "testdata", "llm", "vocab")
BENCH = os.path.join(BUILD, "tests", "unit", "llm", "tok_bench")
if not os.path.isdir(VOCAB_DIR):
    print(f"SKIP: {VOCAB_DIR} absent")
    sys.exit(77)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from spm_model import read_gguf_kv  # noqa: E402

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
PRE = {  # the pattern lists of llama.cpp's llama-vocab.cpp, as tokenizer.json has them
    "gpt-2": [GPT2], "mpt": [GPT2],
    "starcoder": [r"\p{N}", GPT2],
    "falcon": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"],
    "deepseek-coder": ["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", CJK, r"\p{N}"],
}


def byte_map():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_MAP = byte_map()


class Reference:
    def __init__(self, kv, patterns):
        toks = kv["tokenizer.ggml.tokens"]
        types = kv.get("tokenizer.ggml.token_type", [1] * len(toks))
        self.ids = {}
        for i, t in enumerate(toks):
            self.ids[t] = i  # last wins, as in inferd and llama.cpp
        self.ranks = {}
        for r, m in enumerate(kv["tokenizer.ggml.merges"]):
            a, b = m.split(" ", 1) if not m.startswith(" ") else (" ", m[2:])
            self.ranks.setdefault((a, b), r)
        self.user = sorted((t for t, ty in zip(toks, types) if ty == 4 and t), key=len, reverse=True)
        self.rx = [regex.compile(p) for p in patterns]

    def split_user(self, text):
        frags = [text]
        for u in self.user:
            out = []
            for f in frags:
                if isinstance(f, int):
                    out.append(f)
                    continue
                parts = f.split(u)
                for k, p in enumerate(parts):
                    if k:
                        out.append(self.ids[u])
                    if p:
                        out.append(p)
            frags = out
        return frags

    def words(self, text):
        pieces = [text]
        for rx in self.rx:
            out = []
            for p in pieces:
                last = 0
                for m in rx.finditer(p):
                    if m.end() == m.start():
                        continue
                    if m.start() > last:
                        out.append(p[last:m.start()])
                    out.append(m.group())
                    last = m.end()
                if last < len(p):
                    out.append(p[last:])
            pieces = out
        return pieces

    def bpe(self, word):
        w = list(word)
        while len(w) > 1:
            pairs = [(w[i], w[i + 1]) for i in range(len(w) - 1)]
            best = min(pairs, key=lambda q: self.ranks.get(q, 1 << 60))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    merged.append(w[i] + w[i + 1])
                    i += 2
                else:
                    merged.append(w[i])
                    i += 1
            w = merged
        return w

    def encode(self, text):
        out = []
        for f in self.split_user(text):
            if isinstance(f, int):
                out.append(f)
                continue
            for word in self.words(f):
                mapped = "".join(BYTE_MAP[b] for b in word.encode("utf-8"))
                for piece in self.bpe(mapped):
                    if piece in self.ids:
                        out.append(self.ids[piece])
                    else:
                        out.extend(self.ids[c] for c in piece if c in self.ids)
        return out


ALPHABET = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 3 + list(" " * 25) +
            list("\t\n\r.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`") + ["'s", "'ll", "'re", "123", "4567"] +
            list("éèàçüößñÆ") + list("нещоБългарски") + list("我想在工作天～日本語한국어") +
            ["🦙", "🚀", "😁", "✅", "\u200d", "\u00a0", "\u3000", "\U0001f9ff", "ℕ", "Ω", "µ", "＂"])


def main():
    rng = random.Random(4321)
    texts = ["Hello world", " Hello world", "  leading", "a\tb\nc", "3333333", "I've 'RE \n\n  x", ""]
    for _ in range(120):
        texts.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 48))))
    bad = total = 0
    for name, patterns in PRE.items():
        path = os.path.join(VOCAB_DIR, f"ggml-vocab-{name}.gguf")
        if not os.path.exists(path):
            continue
        ref = Reference(read_gguf_kv(path), patterns)
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b"\0".join(t.encode("utf-8") for t in texts))
            tmp = f.name
        try:
            lines = subprocess.run([BENCH, path, tmp, "--nul"], check=True, capture_output=True, text=True,
                                   timeout=120).stdout.split("\n")
        finally:
            os.unlink(tmp)
        ok = 0
        for text, line in zip(texts, lines):
            ours = [int(x) for x in line.split()]
            want = ref.encode(text)
            if ours == want:
                ok += 1
            elif bad < 10:
                print(f"DIFF {name} {text!r}\n  inferd:    {ours}\n  reference: {want}")
        bad += len(texts) - ok
        total += len(texts)
        print(f"{name:<16} {ok}/{len(texts)} agree with the reference BPE")
    if total == 0:
        print("SKIP: no vocab files")
        sys.exit(77)
    sys.exit(1 if bad else 0)


main()
