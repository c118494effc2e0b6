"""test_client_chat.py — `inferd chat` (client streaming) against a scripted OpenAI-style
SSE server: retry before the first byte, tokens printed as they arrive, history kept,
/reset and /exit, and no fail-over once a stream has begun."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_client_fault_server import FaultServer, chat_chunk, dead_url  # noqa: E402

BIN = os.environ.get("INFERD_BIN")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def chat(urls, stdin, *args):
    return subprocess.run([BIN, "chat", urls, "m", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def sse(*texts, gap=0.0, break_after=None):
    data = [chat_chunk(t) for t in texts] + [chat_chunk(None, "stop"), "[DONE]"]
    step = {"sse": data, "gap": gap}
    if break_after is not None:
        step["break_after"] = break_after
    return step


def test_conversation():
    script = [{"status": 503, "headers": {"Retry-After": "0"}, "body": {"error": "busy"}},
              sse("Hel", "lo", gap=0.05), sse("Fine", " thanks"), sse("Again")]
    dead = dead_url()
    with FaultServer(script) as s:
        p = chat(dead + "," + s.url, "hi\nhow are you\n/reset\nagain\n/exit\nignored\n",
                 "--system", "be brief", "--temperature", "0.5", "--max-tokens", "20")
        reqs = s.requests
    check(p.returncode == 0, "chat exits 0 (%d: %s)" % (p.returncode, p.stderr))
    check(p.stdout == "Hello\nFine thanks\nAgain\n", "streamed answers: %r" % p.stdout)
    check("connect failed" in p.stderr and "HTTP 503" in p.stderr,
          "retried the dead URL and the 503 before the first byte: %s" % p.stderr)
    check("(conversation reset)" in p.stderr, "/reset acknowledged")
    check(len(reqs) == 4, "503 + three turns reached the server (%d)" % len(reqs))
    if len(reqs) != 4:
        return
    bodies = [json.loads(r["body"]) for r in reqs]
    check(all(r["path"] == "/v1/chat/completions" for r in reqs), "chat path")
    check(all(b["stream"] is True and b["model"] == "m" for b in bodies), "stream:true, model")
    check(bodies[1]["temperature"] == 0.5 and bodies[1]["max_tokens"] == 20, "sampling options")
    check(reqs[0]["headers"]["idempotency-key"] == reqs[1]["headers"]["idempotency-key"],
          "same idempotency key across the retry of one turn")
    check(reqs[1]["headers"]["idempotency-key"] != reqs[2]["headers"]["idempotency-key"],
          "a new key per turn")
    check(reqs[1]["headers"].get("accept") == "text/event-stream", "asks for an event stream")
    msgs = lambda b: [(m["role"], m["content"]) for m in b["messages"]]  # noqa: E731
    check(msgs(bodies[1]) == [("system", "be brief"), ("user", "hi")], "first turn messages")
    check(msgs(bodies[2]) == [("system", "be brief"), ("user", "hi"), ("assistant", "Hello"),
                              ("user", "how are you")], "history kept: %r" % msgs(bodies[2]))
    check(msgs(bodies[3]) == [("system", "be brief"), ("user", "again")],
          "/reset clears the history: %r" % msgs(bodies[3]))
    check(all("ignored" not in r["body"].decode() for r in reqs), "nothing sent after /exit")


def test_no_failover_after_first_byte():
    script = [sse("par", "tial", break_after=1), sse("ok")]
    with FaultServer(script) as s:
        p = chat(s.url + "," + s.url, "one\n", "--retries", "3")
        n = len(s.requests)
    check(p.stdout.startswith("par"), "first token printed before the break: %r" % p.stdout)
    check(n == 1, "a stream that began is not retried (%d requests)" % n)
    check("broke after" in p.stderr or "without [DONE]" in p.stderr,
          "the break is reported: %s" % p.stderr)
    # error answers (4xx) are shown and not retried, and the REPL goes on
    script = [{"status": 400, "body": {"error": {"message": "max_tokens too big"}}}, sse("yes")]
    with FaultServer(script) as s:
        p = chat(s.url, "a\nb\n")
        reqs = s.requests
    check(len(reqs) == 2, "400 not retried; next line still sent")
    check("max_tokens too big" in p.stderr, "server's message shown: %s" % p.stderr)
    check(p.stdout == "yes\n" and p.returncode == 0, "second line answered: %r" % p.stdout)
    if len(reqs) == 2:
        m = json.loads(reqs[1]["body"])["messages"]
        check([x["content"] for x in m] == ["b"], "failed turn dropped from history: %r" % m)


def test_invalid_utf8_line():
    # a line JSON cannot carry is reported and skipped; the REPL goes on
    with FaultServer([sse("ok")]) as s:
        p = subprocess.run([BIN, "chat", s.url, "m"], input=b"bad\xff\ngood\n",
                           capture_output=True, timeout=60)
        reqs = s.requests
    check(b"not valid UTF-8" in p.stderr, "invalid line reported: %r" % p.stderr)
    check(len(reqs) == 1 and p.stdout == b"ok\n" and p.returncode == 0,
          "next line answered (%d requests, %r)" % (len(reqs), p.stdout))
    if len(reqs) == 1:
        m = json.loads(reqs[0]["body"])["messages"]
        check([x["content"] for x in m] == ["good"], "only the valid line sent: %r" % m)


def main():
    if not BIN or not os.path.exists(BIN):
        print("INFERD_BIN not set", file=sys.stderr)
        return 77
    test_conversation()
    test_no_failover_after_first_byte()
    test_invalid_utf8_line()
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
