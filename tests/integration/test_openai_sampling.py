"""test_openai_sampling.py — the sampling parameters of the OpenAI (and Ollama) API on a
real GGUF model (aidreams260K.gguf): seed reproducible across a server restart, logit_bias
banning (-100) and forcing (+100) a token, n choices with the prompt computed once (the
model's prompt_tokens_computed counter), greedy choices equal through the shared KV cache,
streamed choices carrying their index, best_of picking the best mean logprob, echo, up to
16 stop strings (17 is a 400), penalties moving the output in the expected direction, min_p,
range errors naming the field, and Ollama's options mapped to the same parameters.
Everything is deterministic: greedy, or a fixed seed compared with the same seed.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, skip, write_json  # noqa: E402
from test_openai import sse_events  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
PROMPT = "Once upon a time, there was a little"


def make_repo():
    root = tempfile.mkdtemp(prefix="inferd-oai-smp-")
    os.makedirs(os.path.join(root, "aidreams", "1"))
    os.symlink(GGUF, os.path.join(root, "aidreams", "1", "model.gguf"))
    write_json(os.path.join(root, "aidreams", "config.json"), {"context_size": 2048, "parallel": 4})
    return root


def comp(s, **kw):
    body = {"model": "aidreams", "prompt": PROMPT, "max_tokens": 32}
    body.update(kw)
    return s.post_json("/v1/completions", body)


def text_of(r):
    return r.json()["choices"][0]["text"]


def computed(s):
    return s.get("/v1/models/aidreams").json()["meta"]["prompt_tokens_computed"]


def n_tokens(s, text):
    return len(s.post_json("/tokenize", {"model": "aidreams", "content": text, "add_special": True}).json()["tokens"])


def piece(s, tok):
    return s.post_json("/detokenize", {"model": "aidreams", "tokens": [tok]}).json()["content"]


def err(resp, param):
    try:
        return resp.status == 400 and resp.json()["error"]["param"] == param
    except (ValueError, KeyError, TypeError):
        return False


def max_repeats(toks):
    return max(toks.count(x) for x in set(toks))


def main():
    if not os.path.exists(GGUF):
        skip("aidreams260K.gguf is absent (../shared/testdata)")
    t = Checker()
    root = make_repo()
    seeded = {}
    with Server(root, "--threads", "2") as s:
        # -- seed: the same seed gives the same text, another seed another text --
        for seed in (1234, 1235):
            r = comp(s, temperature=1.0, seed=seed)
            t.check(r.status == 200, "seeded completion %r" % r)
            seeded[seed] = text_of(r)
        t.check(text_of(comp(s, temperature=1.0, seed=1234)) == seeded[1234], "same seed, same text")
        t.check(seeded[1234] != seeded[1235], "another seed, another text: %r" % seeded)

        # -- greedy baseline with token pieces --
        base = comp(s, temperature=0, logprobs=1)
        t.check(base.status == 200, "greedy %r" % base)
        base_text = text_of(base)
        base_toks = base.json()["choices"][0]["logprobs"]["tokens"]

        # -- logit_bias: -100 bans the greedy first token everywhere; +100 forces a token --
        whole = s.post_json("/tokenize", {"model": "aidreams", "content": PROMPT + base_text, "add_special": True,
                                          "with_pieces": True}).json()["tokens"]
        first = [e["id"] for e in whole if e["piece"] == base_toks[0]][:1]
        t.check(len(first) == 1 and piece(s, first[0]) == base_toks[0], "first token's id: %r" % first)
        r = comp(s, temperature=0, logprobs=1, logit_bias={str(first[0]): -100})
        toks = r.json()["choices"][0]["logprobs"]["tokens"] if r.status == 200 else None
        t.check(toks and base_toks[0] not in toks and toks != base_toks, "banned token never appears: %r" % toks)
        forced = piece(s, 100)
        for temp in (0, 1.0):
            r = comp(s, temperature=temp, seed=3, max_tokens=5, logit_bias={"100": 100})
            t.check(r.status == 200 and text_of(r) == forced * 5, "+100 forces token 100 (T=%s): %r" % (temp, r))
        r = s.post_json("/v1/chat/completions", {"model": "aidreams", "max_tokens": 4, "temperature": 0,
                                                 "messages": [{"role": "user", "content": "Hi"}],
                                                 "logit_bias": {"100": 100}})
        t.check(r.status == 200 and r.json()["choices"][0]["message"]["content"] == forced * 4, "chat logit_bias %r" % r)

        # -- n: three choices, the prompt computed once --
        prompt_n = "A dog named Max liked to run in the park"
        before = computed(s)
        r = comp(s, prompt=prompt_n, n=3, temperature=1.0, seed=7, max_tokens=16)
        after = computed(s)
        ok = r.status == 200
        t.check(ok and [c["index"] for c in r.json()["choices"]] == [0, 1, 2], "n=3 gives 3 indexed choices %r" % r)
        if ok:
            u = r.json()["usage"]
            t.check(u["prompt_tokens"] == n_tokens(s, prompt_n), "usage counts the prompt once %r" % u)
            fresh = u["prompt_tokens"] - u["prompt_tokens_details"]["cached_tokens"]
            t.check(fresh > 0 and after - before == fresh, "prompt computed once: %d tokens computed for %d new "
                    "prompt tokens" % (after - before, fresh))
            t.check(3 <= u["completion_tokens"] <= 48, "completion tokens of the 3 choices summed %r" % u)
            texts = [c["text"] for c in r.json()["choices"]]
            t.check(len(set(texts)) > 1, "seeded choices differ: %r" % texts)
            # choice i draws with seed + i: choice 1 equals a single completion with seed 8
            r1 = comp(s, prompt=prompt_n, temperature=1.0, seed=8, max_tokens=16)
            t.check(r1.status == 200 and text_of(r1) == texts[1], "choice 1 == seed 8: %r vs %r" % (texts[1], r1))
            r0 = comp(s, prompt=prompt_n, temperature=1.0, seed=7, max_tokens=16)
            t.check(r0.status == 200 and text_of(r0) == texts[0], "choice 0 == seed 7")
            # streamed: every chunk names its choice; per-index texts equal the non-streamed ones
            st, _, events, done = sse_events(s, "/v1/completions", {"model": "aidreams", "prompt": prompt_n, "n": 3,
                                                                   "temperature": 1.0, "seed": 7, "max_tokens": 16,
                                                                   "stream": True,
                                                                   "stream_options": {"include_usage": True}})
            per, fins = {}, {}
            for e in events:
                for c in e.get("choices", []):
                    per[c["index"]] = per.get(c["index"], "") + (c.get("text") or "")
                    if c.get("finish_reason"):
                        fins[c["index"]] = c["finish_reason"]
            t.check(st == 200 and done and [per.get(i) for i in range(3)] == texts and sorted(fins) == [0, 1, 2],
                    "streamed n=3 per index %r / %r, finishes %r" % (per, texts, fins))
            t.check(events and events[-1]["choices"] == [] and events[-1]["usage"]["prompt_tokens"] == u["prompt_tokens"],
                    "stream usage chunk %r" % (events[-1] if events else None))
        # greedy choices are identical: the copied KV cache and shared logits are exact
        r = comp(s, prompt="The sun was hot and the", n=3, temperature=0, max_tokens=24)
        single = comp(s, prompt="The sun was hot and the", temperature=0, max_tokens=24)
        t.check(r.status == 200 and [c["text"] for c in r.json()["choices"]] == [text_of(single)] * 3,
                "greedy n=3 equals n=1: %r" % r)
        # chat with n, streamed: each delta names its index
        st, _, events, done = sse_events(s, "/v1/chat/completions", {
            "model": "aidreams", "messages": [{"role": "user", "content": "Tell me"}], "n": 2, "temperature": 0,
            "max_tokens": 8, "stream": True})
        idx = {c["index"] for e in events for c in e["choices"]}
        roles = [c["index"] for e in events for c in e["choices"] if c["delta"].get("role")]
        t.check(st == 200 and done and idx == {0, 1} and sorted(roles) == [0, 1], "chat stream n=2 %r" % idx)

        # -- best_of: the n candidates with the best mean logprob, best first --
        cand = comp(s, n=4, temperature=1.0, seed=11, max_tokens=12, logprobs=0)
        r = comp(s, n=2, best_of=4, temperature=1.0, seed=11, max_tokens=12)
        if t.check(cand.status == 200 and r.status == 200, "best_of %r %r" % (cand, r)):
            scored = sorted(((sum(c["logprobs"]["token_logprobs"]) / len(c["logprobs"]["token_logprobs"]), -c["index"],
                              c["text"]) for c in cand.json()["choices"]), reverse=True)
            want = [x[2] for x in scored[:2]]
            got = [c["text"] for c in r.json()["choices"]]
            t.check(got == want and [c["index"] for c in r.json()["choices"]] == [0, 1], "best_of: %r vs %r" % (got, want))
            t.check(r.json()["usage"]["completion_tokens"] == cand.json()["usage"]["completion_tokens"],
                    "best_of usage counts every candidate %r" % r.json()["usage"])
        t.check(err(comp(s, n=3, best_of=2), "best_of"), "best_of < n is 400")
        t.check(err(comp(s, best_of=3, stream=True), "best_of"), "best_of > n cannot stream")
        t.check(err(s.post_json("/v1/chat/completions", {"model": "aidreams", "best_of": 2,
                                                         "messages": [{"role": "user", "content": "x"}]}), "best_of"),
                "best_of on chat is 400")

        # -- echo: the prompt, then the completion --
        r = comp(s, temperature=0, echo=True)
        t.check(r.status == 200 and text_of(r) == PROMPT + base_text, "echo %r" % r)
        st, _, events, done = sse_events(s, "/v1/completions", {"model": "aidreams", "prompt": PROMPT, "max_tokens": 32,
                                                               "temperature": 0, "echo": True, "stream": True})
        t.check(st == 200 and done and "".join(c["text"] for e in events for c in e["choices"]) == PROMPT + base_text,
                "streamed echo")
        ids = s.post_json("/tokenize", {"model": "aidreams", "content": PROMPT, "add_special": True}).json()["tokens"]
        r = comp(s, prompt=ids, temperature=0, echo=True, max_tokens=4)
        gen4 = text_of(comp(s, prompt=ids, temperature=0, max_tokens=4))
        t.check(r.status == 200 and text_of(r).endswith(gen4) and text_of(r)[:-len(gen4)].lstrip() == PROMPT,
                "echo of a token-id prompt: its pieces, then the completion %r" % r)
        t.check(err(comp(s, echo=True, logprobs=1, stream=True), "echo"), "echo with logprobs cannot stream")
        # echo with logprobs: prompt tokens first (the first with null), then the generated ones
        plain4 = comp(s, temperature=0, max_tokens=4, logprobs=2)
        r = comp(s, temperature=0, max_tokens=4, logprobs=2, echo=True)
        if t.check(r.status == 200 and plain4.status == 200, "echo + logprobs %r" % r):
            lp, lp4 = r.json()["choices"][0]["logprobs"], plain4.json()["choices"][0]["logprobs"]
            n_ids = len(ids)
            t.check(len(lp["tokens"]) == n_ids + 4 and lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
                    and all(x <= 0 for x in lp["token_logprobs"][1:]), "prompt + generated records %r" % lp)
            t.check(lp["tokens"][n_ids:] == lp4["tokens"] and
                    all(abs(a - b) < 1e-4 for a, b in zip(lp["token_logprobs"][n_ids:], lp4["token_logprobs"])),
                    "generated records equal those without echo")
            t.check(lp["text_offset"][n_ids:] == [len(PROMPT) + o for o in lp4["text_offset"]] and
                    lp["text_offset"][:n_ids] == sorted(lp["text_offset"][:n_ids]), "offsets %r" % lp["text_offset"])
            # the last prompt token's logprob: the model's, as a 1-token completion forced to it reports
            forced_last = s.post_json("/v1/completions", {"model": "aidreams", "prompt": ids[:-1], "max_tokens": 1,
                                                          "temperature": 0, "logprobs": 1,
                                                          "logit_bias": {str(ids[-1]): 100}})
            want = forced_last.json()["choices"][0]["logprobs"]["token_logprobs"][0]
            t.check(abs(lp["token_logprobs"][n_ids - 1] - want) < 1e-4,
                    "prompt logprob %r == forced completion's %r" % (lp["token_logprobs"][n_ids - 1], want))
            t.check(len(lp["top_logprobs"][1]) >= 1, "prompt tokens carry top_logprobs")
            # n=2 with echo + logprobs: every choice carries the prompt records
            r2 = comp(s, temperature=0, max_tokens=4, logprobs=1, echo=True, n=2)
            t.check(r2.status == 200 and all(len(c["logprobs"]["tokens"]) == n_ids + 4 for c in r2.json()["choices"]),
                    "n=2 echo + logprobs %r" % r2)

        # -- stop: 16 strings, one of which appears in the greedy text; 17 is a 400 --
        cut = base_text[12:16]
        stops = ["zq%02d" % i for i in range(15)] + [cut]
        r = comp(s, temperature=0, stop=stops)
        t.check(r.status == 200 and text_of(r) == base_text[:base_text.index(cut)] and
                r.json()["choices"][0]["finish_reason"] == "stop", "16 stop strings %r (cut %r)" % (r, cut))
        t.check(err(comp(s, stop=stops + ["one more"]), "stop"), "17 stop strings is 400 naming stop")

        # -- penalties, greedy: frequency/presence/repeat penalties repeat less, negative more --
        long = dict(temperature=0, max_tokens=96, logprobs=0)
        plain = comp(s, **long).json()["choices"][0]["logprobs"]["tokens"]
        for kw in ({"frequency_penalty": 2.0}, {"presence_penalty": 2.0}, {"repeat_penalty": 1.8}):
            r = comp(s, **long, **kw)
            toks = r.json()["choices"][0]["logprobs"]["tokens"] if r.status == 200 else []
            t.check(toks and max_repeats(toks) < max_repeats(plain) and len(set(toks)) > len(set(plain)),
                    "%r repeats less: max %d < %d, distinct %d > %d" % (kw, max_repeats(toks) if toks else -1,
                                                                     max_repeats(plain), len(set(toks)),
                                                                     len(set(plain))))
        r = comp(s, **long, frequency_penalty=-2.0)
        toks = r.json()["choices"][0]["logprobs"]["tokens"] if r.status == 200 else []
        t.check(toks and max_repeats(toks) >= max_repeats(plain) and len(set(toks)) <= len(set(plain)),
                "a negative frequency penalty repeats more: %d >= %d" % (max_repeats(toks) if toks else -1,
                                                                        max_repeats(plain)))
        # min_p 1 keeps only the top token: sampling at any temperature is greedy
        r = comp(s, temperature=1.5, min_p=1.0, seed=99)
        t.check(r.status == 200 and text_of(r) == base_text, "min_p=1 is greedy %r" % r)

        # -- out-of-range values are 400 naming the field --
        for kw, param in (({"presence_penalty": 2.5}, "presence_penalty"), ({"frequency_penalty": -3}, "frequency_penalty"),
                          ({"n": 0}, "n"), ({"n": 17}, "n"), ({"n": "2"}, "n"), ({"min_p": 1.5}, "min_p"),
                          ({"logit_bias": {"x1": 1}}, "logit_bias"), ({"logit_bias": {"5": 150}}, "logit_bias"),
                          ({"logit_bias": {"99999": 1}}, "logit_bias"), ({"logit_bias": [1]}, "logit_bias"),
                          ({"repeat_last_n": 5000}, "repeat_last_n"), ({"seed": "x"}, "seed"),
                          ({"echo": "yes"}, "echo")):
            t.check(err(comp(s, **kw), param), "%r is 400 naming %s" % (kw, param))

        # -- Ollama's options map to the same parameters --
        ol = {"model": "aidreams", "prompt": PROMPT, "raw": True, "stream": False,
              "options": {"seed": 1234, "temperature": 1.0, "num_predict": 32}}
        r = s.post_json("/api/generate", ol)
        t.check(r.status == 200 and r.json().get("response") == seeded[1234], "Ollama seed == OpenAI seed %r" % r)
        ol["options"] = {"temperature": 0, "num_predict": 96, "frequency_penalty": 2.0, "repeat_last_n": 64,
                         "repeat_penalty": 1.0}
        r = s.post_json("/api/generate", ol)
        pen = comp(s, temperature=0, max_tokens=96, frequency_penalty=2.0)
        t.check(r.status == 200 and r.json().get("response") == text_of(pen), "Ollama frequency_penalty %r" % r)
        ol["options"] = {"repeat_last_n": 99999}
        t.check(s.post_json("/api/generate", ol).status == 400, "Ollama bad repeat_last_n is 400")
        t.check(s.stop() == 0, "clean exit")

    # -- the same seed gives the same text after a restart --
    with Server(root, "--threads", "2") as s:
        r = comp(s, temperature=1.0, seed=1234)
        t.check(r.status == 200 and text_of(r) == seeded[1234], "seed reproducible across a restart: %r" % r)
        t.check(s.stop() == 0, "clean exit after the restart")
    t.finish()


if __name__ == "__main__":
    main()
