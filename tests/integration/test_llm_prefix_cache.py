"""test_llm_prefix_cache.py — the prefix cache across requests (issue 14 item 5) on a real
GGUF model (aidreams260K.gguf), with one slot so that a request's reuse must come from the
cache, not from the slot's previous request:
- a multi-turn chat whose second turn computes only the new tokens (the model's
  prompt_tokens_computed counter), with unrelated requests in between that take the slot;
  usage.prompt_tokens_details.cached_tokens, Ollama's prompt_eval_count (computed only),
  the /v1/models meta and the Prometheus series;
- the same conversation on a server with the cache off gives the same greedy text and
  computes the whole prompt;
- a 1 MiB cap (serve --prefix-cache-mb; config.json's prefix_cache_mb wins over it) evicts the least recently used blocks (an old prompt is computed again, a
  recent one is still found) and never holds more than the cap.
Everything is greedy and deterministic; nothing depends on timing.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, metric_value, skip, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
BLOCK = 16
SYSTEM = ("You are a storyteller who lives in a small house by the sea. Every evening you tell the "
          "children of the village a story about the fishermen, the boats, the birds and the old "
          "lighthouse keeper who never sleeps.")


def make_repo(**cfg):
    root = tempfile.mkdtemp(prefix="inferd-pfx-")
    os.makedirs(os.path.join(root, "aidreams", "1"))
    os.symlink(GGUF, os.path.join(root, "aidreams", "1", "model.gguf"))
    conf = {"context_size": 2048, "parallel": 1, "chat_template": "chatml"}
    conf.update(cfg)
    write_json(os.path.join(root, "aidreams", "config.json"), conf)
    return root


def meta(s):
    return s.get("/v1/models/aidreams").json()["meta"]


def chat(s, messages, max_tokens=24):
    r = s.post_json("/v1/chat/completions", {"model": "aidreams", "messages": messages, "temperature": 0,
                                             "max_tokens": max_tokens})
    assert r.status == 200, r
    return r.json()


def filler(s, i):
    """An unrelated request that takes the only slot (its cache then holds other tokens)."""
    r = s.post_json("/v1/completions", {"model": "aidreams", "prompt": "Zebras %d ran over the hill" % i,
                                        "max_tokens": 4, "temperature": 0})
    assert r.status == 200, r


def conversation(s, t, what):
    """Turn 1, two fillers, turn 2. Returns (turn-2 answer, its usage, tokens computed for it,
    turn-1 prompt tokens)."""
    turn1 = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Tell me about the boats."}]
    a1 = chat(s, turn1)
    p1 = a1["usage"]["prompt_tokens"]
    filler(s, 1)
    filler(s, 2)
    turn2 = turn1 + [{"role": "assistant", "content": a1["choices"][0]["message"]["content"]},
                     {"role": "user", "content": "And the lighthouse keeper?"}]
    before = meta(s)["prompt_tokens_computed"]
    a2 = chat(s, turn2)
    computed = meta(s)["prompt_tokens_computed"] - before
    u = a2["usage"]
    t.check(computed == u["prompt_tokens"] - u["prompt_tokens_details"]["cached_tokens"],
            "%s: computed %d = prompt %d - cached %r" % (what, computed, u["prompt_tokens"], u))
    return a2["choices"][0]["message"]["content"], u, computed, p1


def main():
    if not os.path.exists(GGUF):
        skip("aidreams260K.gguf is absent (../shared/testdata)")
    t = Checker()

    # -- with the cache (default cap): turn 2 computes only what turn 1 did not --
    with Server(make_repo(), "--threads", "2") as s:
        m0 = meta(s)["prefix_cache"]
        t.check(m0["cap_bytes"] == 256 << 20 and m0["blocks"] == 0, "default cap 256 MiB, empty: %r" % m0)
        text_on, u, computed_on, p1 = conversation(s, t, "cache on")
        cached = u["prompt_tokens_details"]["cached_tokens"]
        new_tokens = u["prompt_tokens"] - p1
        # every full block of turn 1's prompt comes from the cache (the slot held a filler)
        t.check(cached >= p1 // BLOCK * BLOCK, "turn 2 reused turn 1's blocks: cached %d, turn-1 prompt %d"
                % (cached, p1))
        t.check(computed_on < new_tokens + BLOCK,
                "turn 2 computed %d tokens, fewer than its %d new ones + one block" % (computed_on, new_tokens))
        m1 = meta(s)["prefix_cache"]
        t.check(m1["hits"] >= 1 and m1["cached_tokens"] >= cached - BLOCK and 0 < m1["bytes"] <= m1["cap_bytes"],
                "meta counts the hit: %r" % m1)
        t.check(metric_value(s, "inferd_llm_prefix_cache_hits_total", 'model="aidreams"') == m1["hits"],
                "hits counter")
        t.check(metric_value(s, "inferd_llm_prefix_cache_misses_total", 'model="aidreams"') == m1["misses"],
                "misses counter")
        t.check(metric_value(s, "inferd_llm_prefix_cache_tokens_total", 'model="aidreams"') == m1["cached_tokens"],
                "cached tokens counter")
        # the finished turn's blocks may still be going into the cache just after its response
        # was sent (the gauge once read the bytes before them, under ASan on a loaded machine):
        # gauge and meta agree once that is done
        for _ in range(40):
            gauge = metric_value(s, "inferd_llm_prefix_cache_bytes", 'model="aidreams"')
            now_bytes = meta(s)["prefix_cache"]["bytes"]
            if gauge == now_bytes:
                break
            time.sleep(0.05)
        t.check(gauge == now_bytes, "bytes gauge %r == meta's bytes %r" % (gauge, now_bytes))
        # Ollama: prompt_eval_count counts the tokens evaluated, not those from the cache
        filler(s, 3)
        ol = s.post_json("/api/generate", {"model": "aidreams", "prompt": SYSTEM, "raw": True, "stream": False,
                                           "options": {"temperature": 0, "num_predict": 2}}).json()
        filler(s, 4)
        ol2 = s.post_json("/api/generate", {"model": "aidreams", "prompt": SYSTEM, "raw": True, "stream": False,
                                            "options": {"temperature": 0, "num_predict": 2}}).json()
        t.check(0 < ol2["prompt_eval_count"] < BLOCK + 1 and ol["prompt_eval_count"] > ol2["prompt_eval_count"],
                "ollama prompt_eval_count counts computed tokens: %r then %r"
                % (ol["prompt_eval_count"], ol2["prompt_eval_count"]))
        t.check(ol["response"] == ol2["response"], "ollama: same text from the cache")

    # -- without the cache: same text, the whole prompt computed --
    with Server(make_repo(prefix_cache_mb=0), "--threads", "2", "--prefix-cache-mb", "64") as s:
        t.check(meta(s)["prefix_cache"]["cap_bytes"] == 0, "config.json prefix_cache_mb 0 turns it off (over the flag)")
        text_off, u_off, computed_off, _ = conversation(s, t, "cache off")
        t.check(text_off == text_on, "greedy turn 2 equal with and without the cache: %r vs %r" % (text_off, text_on))
        t.check(u_off["prompt_tokens"] == u["prompt_tokens"], "same prompt both ways")
        t.check(computed_off > u_off["prompt_tokens"] - BLOCK and computed_off > computed_on,
                "without the cache the whole prompt runs: %d of %d" % (computed_off, u_off["prompt_tokens"]))
        t.check(meta(s)["prefix_cache"]["hits"] == 0, "no hits when off")

    # -- a 1 MiB cap (serve --prefix-cache-mb): least recently used blocks go, the cap holds --
    with Server(make_repo(), "--threads", "2", "--prefix-cache-mb", "1") as s:
        def story(i):
            return "%d: " % i + SYSTEM + " This is story %d, and it is a long one." % i

        def run(i):
            r = s.post_json("/v1/completions", {"model": "aidreams", "prompt": story(i), "max_tokens": 4,
                                                "temperature": 0})
            assert r.status == 200, r
            return r.json()["usage"]

        first = run(0)
        blocks_first = meta(s)["prefix_cache"]["blocks"]
        t.check(blocks_first >= first["prompt_tokens"] // BLOCK, "story 0 cached: %d blocks" % blocks_first)
        i = 0
        while meta(s)["prefix_cache"]["evictions"] < blocks_first and i < 200:
            i += 1
            run(i)
        m = meta(s)["prefix_cache"]
        t.check(m["evictions"] >= blocks_first, "stories past the cap evict: %r after %d" % (m, i))
        t.check(0 < m["bytes"] <= m["cap_bytes"] == 1 << 20, "bytes within the cap: %r" % m)
        recent = run(i - 1)  # story i is in the slot; i - 1 only in the cache
        t.check(recent["prompt_tokens_details"]["cached_tokens"] >= recent["prompt_tokens"] // BLOCK * BLOCK - BLOCK,
                "a recent story is still cached: %r" % recent)
        misses = meta(s)["prefix_cache"]["misses"]
        again = run(0)
        t.check(again["prompt_tokens_details"]["cached_tokens"] < BLOCK and meta(s)["prefix_cache"]["misses"] == misses + 1,
                "the oldest story was evicted and is computed again: %r" % again)
    t.finish()


if __name__ == "__main__":
    main()
