"""test_llm_preempt.py — preemption when the KV cache is full (issue 14 item 7) on a real
GGUF model (aidreams260K.gguf): with "kv_unified" the 4 slots share one cache of 256
positions, and 4 greedy sequences of ~130 positions each do not fit together. The scheduler
pauses the newest (its KV dropped, its tokens recomputed when it resumes), finishes the
others and resumes it: every sequence completes, with exactly the text it gives when run
alone, with the prefix cache off (pure recompute) and on (blocks copied back). The four run
as one /v1/completions request with a list of prompts, so they are queued and admitted
together whatever the timing, and 4 x (prompt + 120) positions never fit in 256.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, metric_value, skip, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
PROMPTS = ["Once upon a time, there was a little girl",
           "The dog ran to the park and",
           "Tom and Sue went to the beach. They",
           "One day, a big bird flew over the"]
MAX_TOKENS = 120


def make_repo(**cfg):
    root = tempfile.mkdtemp(prefix="inferd-preempt-")
    os.makedirs(os.path.join(root, "aidreams", "1"))
    os.symlink(GGUF, os.path.join(root, "aidreams", "1", "model.gguf"))
    conf = {"context_size": 256, "parallel": 4, "kv_unified": True}
    conf.update(cfg)
    write_json(os.path.join(root, "aidreams", "config.json"), conf)
    return root


def body(prompt, **kw):
    b = {"model": "aidreams", "prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0, "ignore_eos": True}
    b.update(kw)
    return b


def meta(s):
    return s.get("/v1/models/aidreams").json()["meta"]


def main():
    if not os.path.exists(GGUF):
        skip("aidreams260K.gguf is absent (../shared/testdata)")
    t = Checker()
    alone = {}
    for cache_mb in (0, 64):
        with Server(make_repo(prefix_cache_mb=cache_mb), "--threads", "2") as s:
            m = meta(s)
            t.check(m["kv_unified"] is True and m["n_ctx_per_seq"] == 256, "unified: %r" % m)
            if not alone:
                for p in PROMPTS:  # one at a time: the whole cache is this stream's
                    r = s.post_json("/v1/completions", body(p))
                    t.check(r.status == 200, "alone %r" % r)
                    alone[p] = r.json()["choices"][0]["text"]
                t.check(meta(s)["preemptions"] == 0, "nothing preempted when run alone")
            # one request with the four prompts: queued together, admitted in the same step
            r = s.post_json("/v1/completions", body(PROMPTS))
            t.check(r.status == 200, "together: %r" % r)
            choices = sorted(r.json()["choices"], key=lambda c: c["index"]) if r.status == 200 else []
            t.check(len(choices) == len(PROMPTS), "one choice per prompt")
            for p, c in zip(PROMPTS, choices):
                t.check(c["finish_reason"] == "length", "cache %d MiB: %r completed: %r" % (cache_mb, p, c))
                t.check(c["text"] == alone[p], "cache %d MiB: %r same text as alone:\n%r\n%r"
                        % (cache_mb, p, c["text"], alone[p]))
            u = r.json()["usage"] if r.status == 200 else {}
            t.check(u.get("completion_tokens") == len(PROMPTS) * MAX_TOKENS, "usage: %r" % u)
            pre = meta(s)["preemptions"]
            t.check(pre > 0, "cache %d MiB: 4 streams of %d positions in 256 preempted some (%d)"
                    % (cache_mb, MAX_TOKENS, pre))
            t.check(metric_value(s, "inferd_llm_preemptions_total", 'model="aidreams"') == pre, "metric")
    t.finish()


if __name__ == "__main__":
    main()
