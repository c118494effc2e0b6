"""test_hostile_bodies.py — big bodies against `inferd serve --threads 2` (issue 8, findings 1
and 3).

1. Eight clients without a key declare 60 MB bodies and push body bytes as fast as the
   server takes them (--api-key-file set): each gets 401 before its body is buffered; peak
   RSS stays under the ceiling. (Declared-only bodies: tests/integration/test_serve_limits.py.)
2. Two 60 MB JSON infer bodies at once, over --max-elements: 413 from the pre-scan (no JSON
   tree), and a fresh client's /v2/health/ready answers meanwhile.
3. Four 10 MB JSON bodies under the limits (more than the 2 HTTP workers) are parsed whole
   (trees of 2.5 M values, ~125 MB each) and refused after parsing (unknown input name).
   They are parsed off the HTTP workers: a fresh client's /v2/health/ready is answered
   before any of them (an order, not a time). Once they are answered the server's RSS is back near
   where it started (malloc_trim), not at its peak.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile import (SANITIZED, Checker, Server, ceiling, connect, health_ok, proc_kb,  # noqa: E402
                     status_of, tiny_repo, wait_until)

MB60 = 62914560
N_PARSED = 4  # parsed bodies at once, more than the HTTP workers (2)


def push_unauthenticated(port, out, i):
    """Declares a 60 MB body without a key, then sends body bytes until the server stops
    taking them (it answers and closes) or 8 MB went; records the status."""
    sk = connect(port)
    sk.sendall(b"POST /v2/models/relu/infer HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % MB60)
    chunk = b"1," * 32768
    sent = 0
    sk.settimeout(2)
    try:
        while sent < 8 << 20:
            sk.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    out[i] = status_of(sk)[0]
    sk.close()


def main():
    t = Checker()
    root = tiny_repo()
    keys = os.path.join(root, "keys.txt")
    with open(keys, "w") as f:
        f.write("k-infer\n")

    # -- 1. no key, bodies pushed --
    with Server(root, "--threads", "2", "--api-key-file", keys) as s:
        got = [None] * 8
        th = [threading.Thread(target=push_unauthenticated, args=(s.port, got, i)) for i in range(8)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        t.check(got == [401] * 8, "8 unauthenticated 60 MB bodies: 401 each (%r)" % got)
        t.check(health_ok(s.port), "alive after the unauthenticated bodies")
        ceiling(t, s, "unauthenticated bodies")
        t.check(s.stop() == 0, "clean exit")

    # -- 2. 60 MB JSON over --max-elements, two at once --
    values = ",".join(["0.5"] * 15000000)
    huge = ('{"inputs":[{"name":"x","shape":[3750000,4],"datatype":"FP32","data":[' + values + ']}]}').encode()
    del values
    with Server(root, "--threads", "2", "--max-elements", "1000") as s:
        res = [None, None]

        def post(i):
            res[i] = s.request("POST", "/v2/models/relu/infer", body=huge, timeout=60)

        th = [threading.Thread(target=post, args=(i,)) for i in range(2)]
        for x in th:
            x.start()
        alive = health_ok(s.port, timeout=30)
        for x in th:
            x.join()
        t.check(alive, "/v2/health/ready answers while two 60 MB bodies are refused")
        t.check(all(r is not None and r.status == 413 and "refused before parsing" in r.body.decode()
                    for r in res), "60 MB over --max-elements: 413 from the pre-scan: %r" % res)
        ceiling(t, s, "two 60 MB JSON bodies")
        t.check(s.stop() == 0, "clean exit")
    del huge

    # -- 3. parsed 10 MB bodies: off the HTTP workers, memory handed back --
    values = ",".join(["0.5"] * 2500000)
    body = ('{"inputs":[{"name":"nope","shape":[625000,4],"datatype":"FP32","data":[' + values + ']}]}').encode()
    del values
    with Server(root, "--threads", "2") as s:
        before = proc_kb(s.proc.pid, "VmRSS")
        order, lock = [], threading.Lock()
        # connected first, so that libmicrohttpd spreads them over its two workers
        socks = [connect(s.port, timeout=120) for _ in range(N_PARSED)]
        time.sleep(0.2)

        def send(sk):
            sk.sendall(b"POST /v2/models/relu/infer HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body) + body)

        senders = [threading.Thread(target=send, args=(sk,)) for sk in socks]
        for x in senders:
            x.start()
        for x in senders:
            x.join()

        def answer(sk):
            code, text = status_of(sk, timeout=120)
            with lock:
                order.append(("big", code))

        th = [threading.Thread(target=answer, args=(sk,)) for sk in socks]
        for x in th:
            x.start()
        ok = health_ok(s.port, timeout=60)
        with lock:
            order.append(("health", 200 if ok else 0))
        for x in th:
            x.join()
        for sk in socks:
            sk.close()
        print("answers in order:", order)
        t.check(ok and order[0][0] == "health",
                "a fresh health check is answered while the HTTP workers' bodies are parsed: %r" % order)
        t.check([o[1] for o in order if o[0] == "big"] == [404] * N_PARSED, "parsed, then refused by input name: %r" % order)
        peak = proc_kb(s.proc.pid, "VmHWM")
        # on_complete (and the trim) runs right after the response went out
        wait_until(lambda: proc_kb(s.proc.pid, "VmRSS") < before + 50 * 1024, timeout=5)
        after = proc_kb(s.proc.pid, "VmRSS")
        print("VmRSS %d kB before, %d kB after; VmHWM %d kB" % (before, after, peak))
        if SANITIZED:
            print("sanitizer build: RSS not checked")
        else:
            t.check(peak > before + 100 * 1024, "the bodies were parsed into trees (peak %d kB)" % peak)
            t.check(after < before + 50 * 1024, "RSS handed back after the requests (%d kB -> %d kB)" % (before, after))
        ceiling(t, s, "four parsed 10 MB bodies", mb=800)
        t.check(s.stop() == 0, "clean exit")
    t.finish()


if __name__ == "__main__":
    main()
