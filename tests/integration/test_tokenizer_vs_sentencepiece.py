"""test_tokenizer_vs_sentencepiece.py — differential test of `inferd tokenize` (the real binary,
real LLaMA-2 32000-token GGUF) against Google's SentencePiece on the same vocabulary, over
seeded random strings mixing ASCII, runs of spaces, tabs/newlines, accents, Cyrillic, CJK,
emoji, "▁" and characters outside the vocabulary (byte fallback). Both must give the same ids;
`inferd tokenize` also checks BOS handling against the model's add_bos default.
Skips (77) without ../shared or python3-sentencepiece."""
import os
import random
import subprocess
import sys
import tempfile

try:
    import sentencepiece as spm
except ImportError:
    print("SKIP: python3-sentencepiece not installed")
    sys.exit(77)

BIN = os.environ["INFERD_BIN"]
ROOT = os.environ["INFERD_ROOT"]
MODEL = os.path.join(os.environ.get("INFERD_SHARED", os.path.join(ROOT, "..", "shared")),
                     "testdata", "llm", "llama-2-tiny-random.gguf")
if not os.path.exists(MODEL):
    print(f"SKIP: {MODEL} absent")
    sys.exit(77)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from spm_model import read_gguf_kv, write_spm_model  # noqa: E402

ALPHABET = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 3 +
            list(" " * 20) + list("\t\n\r.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`") +
            list("éèêàçüöäßñøåÆŒ") + list("нещоБългарски") + list("我想在工作天～日本語") +
            ["🦙", "🚀", "😁", "✅", "\u200d", "\u2581", "\u00a0", "\u3000", "ꙮ", "𝔘", "\U0001f9ff"] +
            ["<s>", "</s>", "<unk>", "<0x41>"])


def inferd_ids(text):
    out = subprocess.run([BIN, "tokenize", MODEL, text, "--ids", "--no-bos", "--no-parse-special"],
                         check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    return [int(x) for x in out.split()] if out else []


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "llama.model")
        write_spm_model(read_gguf_kv(MODEL), path)
        sp = spm.SentencePieceProcessor(model_file=path)
    rng = random.Random(1234)
    cases = ["Hello world", " Hello world", "  leading", "trailing  ", "a\tb\nc", "3333333", "Führer", ""]
    for _ in range(150):
        n = rng.randint(1, 40)
        cases.append("".join(rng.choice(ALPHABET) for _ in range(n)))
    bad = 0
    for text in cases:
        if "\0" in text or text.startswith("-"):
            continue  # argv cannot carry NUL; a leading '-' would read as an option
        ours, theirs = inferd_ids(text), sp.encode(text)
        if ours != theirs:
            bad += 1
            print(f"DIFF {text!r}\n  inferd:        {ours}\n  sentencepiece: {theirs}")
    # add_special: BOS (1) first, as the model's defaults say
    with_bos = subprocess.run([BIN, "tokenize", MODEL, "Hello world", "--ids"], check=True,
                              capture_output=True, text=True, timeout=60).stdout.split()
    if with_bos[:1] != ["1"] or [int(x) for x in with_bos[1:]] != sp.encode("Hello world"):
        bad += 1
        print(f"BOS case: {with_bos}")
    print(f"{len(cases) - bad}/{len(cases)} strings tokenize as SentencePiece does")
    sys.exit(1 if bad else 0)


main()
