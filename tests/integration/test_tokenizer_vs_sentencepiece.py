"""test_tokenizer_vs_sentencepiece.py — differential test of `inferd tokenize` (the real binary,
real LLaMA-2 32000-token GGUF) against Google's SentencePiece on the same vocabulary, over
seeded random strings mixing ASCII, runs of spaces, tabs/newlines, accents, Cyrillic, CJK,
emoji, "▁" and characters outside the vocabulary (byte fallback). Both must give the same ids;
`inferd tokenize` also checks BOS handling against the model's add_bos default. Then 300 longer
strings (up to 300 characters) through the tokenizer directly (tok_bench --nul) on the
llama-spm and baichuan (64000 tokens, no llama.cpp vectors) vocab files.
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
    print(f"{len(cases) - bad}/{len(cases)} strings tokenize as SentencePiece does (inferd tokenize)")
    bad += long_strings(rng)
    sys.exit(1 if bad else 0)


def long_strings(rng):
    bench = os.path.join(os.environ["INFERD_BUILD"], "tests", "unit", "llm", "tok_bench")
    vocab_dir = os.path.join(os.path.dirname(MODEL), "vocab")
    alphabet = ALPHABET + ["the", " the", "ing ", "tion", "    "]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(300)]
    bad = 0
    for name in ("llama-spm", "baichuan"):
        vocab = os.path.join(vocab_dir, f"ggml-vocab-{name}.gguf")
        if not os.path.exists(vocab) or not os.path.exists(bench):
            print(f"({name}: vocab or tok_bench absent, not run)")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            write_spm_model(read_gguf_kv(vocab), os.path.join(tmp, "m.model"))
            sp = spm.SentencePieceProcessor(model_file=os.path.join(tmp, "m.model"))
            with open(os.path.join(tmp, "t"), "wb") as f:
                f.write(b"\0".join(t.encode("utf-8") for t in texts))
            lines = subprocess.run([bench, vocab, os.path.join(tmp, "t"), "--nul"], check=True, capture_output=True,
                                   text=True, timeout=120).stdout.split("\n")
        ok = 0
        for text, line in zip(texts, lines):
            ours, theirs = [int(x) for x in line.split()], sp.encode(text)
            if ours == theirs:
                ok += 1
            elif bad < 5:
                print(f"DIFF {name} {text[:60]!r}...\n  inferd:        {ours[:20]}\n  sentencepiece: {theirs[:20]}")
        bad += len(texts) - ok
        print(f"{name}: {ok}/{len(texts)} long strings tokenize as SentencePiece does")
    return bad


main()
