"""test_client_chat_serve.py — `inferd chat` against the real `inferd serve` with a tiny
GGUF model: the streamed, printed answer of each turn equals the server's non-streamed
greedy answer for the same history (so history is kept and tokens are printed whole),
fail-over from a dead URL, and the LLM metrics it produced pass promtool."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Checker, Server, skip  # noqa: E402
from test_client_fault_server import dead_url  # noqa: E402
from test_metrics_serve import sample  # noqa: E402

SYSTEM = "You are terse."
TURNS = ["Once upon a time", "and then?"]


def main():
    shared = os.environ.get("INFERD_SHARED", "")
    gguf = os.path.join(shared, "testdata", "llm", "llama-2-tiny-random.gguf")
    if not os.path.exists(gguf):
        skip("no %s" % gguf)
    if not os.path.exists(harness.BIN):
        skip("no inferd binary")
    ck = Checker()
    work = tempfile.mkdtemp(prefix="inferd-chat-")
    os.makedirs(os.path.join(work, "models", "rnd", "1"))
    shutil.copy(gguf, os.path.join(work, "models", "rnd", "1", "model.gguf"))
    with Server(os.path.join(work, "models")) as s:
        url = "http://127.0.0.1:%d" % s.port
        p = subprocess.run([harness.BIN, "chat", dead_url() + "," + url, "rnd", "--system", SYSTEM,
                            "--max-tokens", "12", "--temperature", "0"],
                           input="\n".join(TURNS) + "\n", capture_output=True, text=True,
                           timeout=300)
        ck.check(p.returncode == 0, "chat exits 0: %s" % p.stderr)
        ck.check("connect failed" in p.stderr, "dead first URL retried: %s" % p.stderr)

        # the same conversation, non-streamed, greedy: what each turn must have printed
        history = [{"role": "system", "content": SYSTEM}]
        want = ""
        for t in TURNS:
            history.append({"role": "user", "content": t})
            r = s.post_json("/v1/chat/completions", {"model": "rnd", "messages": history,
                                                     "max_tokens": 12, "temperature": 0})
            ck.check(r.status == 200, "reference call: %r" % r)
            if r.status != 200:
                break
            content = r.json()["choices"][0]["message"]["content"]
            history.append({"role": "assistant", "content": content})
            want += content + "\n"
        ck.check(len(want) > len(TURNS), "the model said something")
        ck.check(p.stdout == want, "streamed turns equal the non-streamed answers:\n%r\n%r"
                 % (p.stdout, want))

        m = s.get("/metrics").body
        text = m.decode()
        gen = sample(text, "inferd_llm_generation_tokens_total", {"model": "rnd"})
        ck.check(gen is not None and gen >= 24, "generation tokens counted: %r" % gen)
        ttft = sample(text, "inferd_llm_time_to_first_token_seconds_count", {"model": "rnd"})
        ck.check(ttft is not None and ttft >= 4, "TTFT observed per request: %r" % ttft)
        if shutil.which("promtool"):
            q = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True,
                               timeout=60)
            ck.check(q.returncode == 0 and not q.stdout.strip() and not q.stderr.strip(),
                     "promtool clean with LLM series: %r %r" % (q.stdout, q.stderr))
    ck.finish()


if __name__ == "__main__":
    main()
