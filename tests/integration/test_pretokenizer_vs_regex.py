"""test_pretokenizer_vs_regex.py — every BPE pre-tokenizer inferd knows (PCRE2) against Python's
`regex` module (Debian python3-regex, Unicode \\p{..} classes) running the same pattern list
with the same piece-splitting rule, over seeded random strings. This covers the pre-tokenizers
that have no vocabulary file here (llama3, qwen2, deepseek-v3, tekken, gpt-4o, chameleon,
poro) as well as those that do. Skips (77) without python3-regex."""
import os
import random
import re
import subprocess
import sys
import tempfile

try:
    import regex
except ImportError:
    print("SKIP: python3-regex not installed")
    sys.exit(77)

SPLIT = os.path.join(os.environ["INFERD_BUILD"], "tests", "unit", "llm", "tokenizer", "tok_split")
PRES = ["default", "llama3", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "starcoder", "gpt-2",
        "qwen2", "poro-chat", "tekken", "chameleon", "gpt-4o", "seed-coder", "bailingmoe", "viking"]

# No \x1c-\x1f or \x85: Python counts them as \s, PCRE2 (and Oniguruma) do not.
ALPHABET = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 2 + list(" " * 20) +
            list("\t\n\r\v\f.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`") + ["'s", "'LL", "'Re", "'d", "123", "4567"] +
            list("éèàçüößñÆ") + list("нещоБългарски") + list("我想在工作天～日本語한국어ひらがなカタカナ") +
            ["🦙", "🚀", "😁", "✅", "\u200d", "\u00a0", "\u3000", "\U0001f9ff", "ℕ", "Ω", "µ", "＂", "\u0301",
             "IMGIMGABZ", "<sentinel:12>", "…", "。", "،", "\u2581", "٣", "Ⅻ"])


def py_patterns(pre):
    out = subprocess.run([SPLIT, pre, "--patterns"], check=True, capture_output=True, text=True).stdout.split()
    pats = []
    for h in out:
        src = bytes.fromhex(h).decode("utf-8")
        src = re.sub(r"\\x\{([0-9A-Fa-f]+)\}", lambda m: chr(int(m.group(1), 16)), src)
        pats.append(regex.compile(src))
    return pats


def py_split(pats, text):
    pieces = [text]
    for rx in pats:
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
    spans, off = [], 0
    for p in pieces:
        n = len(p.encode("utf-8"))
        spans.append(f"{off}:{n}")
        off += n
    return " ".join(spans)


def main():
    rng = random.Random(99)
    texts = ["Hello world", "I've been 'told he's there, 'RE you sure?", "  12345 abc\n\n x", "3.3 3..3", ""]
    for _ in range(150):
        texts.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60))))
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        f.write(b"\0".join(t.encode("utf-8") for t in texts))
        path = f.name
    bad = 0
    try:
        for pre in PRES:
            pats = py_patterns(pre)
            lines = subprocess.run([SPLIT, pre, path], check=True, capture_output=True, text=True).stdout.split("\n")
            ok = 0
            for text, line in zip(texts, lines):
                want = py_split(pats, text)
                if line == want:
                    ok += 1
                elif bad < 10:
                    print(f"DIFF {pre} {text!r}\n  inferd: {line}\n  regex:  {want}")
            bad += len(texts) - ok
            print(f"{pre:<16} {ok}/{len(texts)} splits agree")
    finally:
        os.unlink(path)
    sys.exit(1 if bad else 0)


main()
