"""test_hostile_http.py — the HTTP framing layer under a hostile client, against
`inferd serve --threads 2`:

1. Slowloris: 300 connections send their headers one byte at a time (about 12 s); fresh
   clients' /v2/health/ready still answer meanwhile (asserted to answer, not timed).
2. Oversized headers: a 1 MB header line gets 431 or a closed connection; the server lives.
3. Pipelining: several requests in one write are answered in order, bodies included.
4. Bad Content-Length ("abc", "-1", "1, 2", "5x", 30 digits): at most one status line comes
   back, a 400 or 413 (libmicrohttpd 0.9.75 wrote its error head twice), or the connection
   is closed; two Content-Length headers that differ are refused (400), not framed by the first.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile import (Checker, Server, ceiling, connect, exchange, health_ok, read_until_close,  # noqa: E402
                     statuses, tiny_repo)

N_SLOW = 300
SLOW_S = 12.0
INFER = b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,-2,3,-4]}]}'


def slowloris(t, s):
    head = b"GET /v2/health/ready HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"a" * 4096 + b"\r\n\r\n"
    socks = []
    for _ in range(N_SLOW):
        try:
            socks.append(connect(s.port))
        except OSError:
            break
    t.check(len(socks) == N_SLOW, "opened %d slow connections" % len(socks))
    stop = threading.Event()

    def drip():
        pos = 0
        while not stop.is_set() and pos < len(head):
            for sk in socks:
                try:
                    sk.send(head[pos:pos + 1])
                except OSError:
                    pass
            pos += 1
            time.sleep(0.05)

    th = threading.Thread(target=drip)
    t0 = time.time()
    th.start()
    answered = []
    while time.time() - t0 < SLOW_S:
        time.sleep(2.0)
        answered.append(health_ok(s.port, timeout=10))
    stop.set()
    th.join()
    t.check(answered and all(answered), "fresh clients answered during the slowloris: %r" % answered)
    for sk in socks:
        sk.close()
    t.check(health_ok(s.port), "alive after the slowloris")


def oversized(t, s):
    for name, req in (("1 MB header line", b"GET /v2/health/ready HTTP/1.1\r\nHost: h\r\nX-Big: "
                       + b"a" * (1 << 20) + b"\r\n\r\n"),
                      ("1 MB request line", b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: h\r\n\r\n"),
                      ("20000 headers", b"GET /v2/health/ready HTTP/1.1\r\nHost: h\r\n"
                       + b"".join(b"X-%d: v\r\n" % i for i in range(20000)) + b"\r\n")):
        st = statuses(exchange(s.port, req))
        t.check(st in ([431], [414], []), "%s: 431/414 or closed (%r)" % (name, st))
    t.check(health_ok(s.port), "alive after oversized headers")


def pipelining(t, s):
    reqs = [b"GET /v2/health/ready HTTP/1.1\r\nHost: h\r\n\r\n",
            b"POST /v2/models/relu/infer HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(INFER) + INFER,
            b"GET /v2/health/live HTTP/1.1\r\nHost: h\r\n\r\n",
            b"POST /v2/models/relu/infer HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n" % 10 + INFER[:10] + b"\r\n" + b"%x\r\n" % (len(INFER) - 10) + INFER[10:] + b"\r\n0\r\n\r\n",
            b"GET /v2/health/ready HTTP/1.1\r\nHost: h\r\n\r\n",
            # refused from its headers: answered with Connection: close, so what follows is dropped
            b"GET /v2/nosuch HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /v2/health/live HTTP/1.1\r\nHost: h\r\n\r\n"]
    data = exchange(s.port, b"".join(reqs), timeout=10)
    st = statuses(data)
    t.check(st == [200, 200, 200, 200, 200, 404], "pipelined answers in order: %r" % st)
    order = [data.find(x) for x in (b'{"ready":true}', b'"data":[1,0,3,0]', b'{"live":true}', b"no route")]
    t.check(all(x >= 0 for x in order) and order == sorted(order), "bodies in request order: %r" % order)
    t.check(data.count(b'"data":[1,0,3,0]') == 2, "the chunked body was read whole")
    t.check(b"Connection: close" in data[data.find(b"404 Not Found"):], "the early 404 closes the connection")


def bad_content_length(t, s):
    for cl in (b"abc", b"-1", b"1, 2", b"5x", b"9" * 30, b""):
        for path, method in ((b"/v2/health/ready", b"GET"), (b"/v2/models/relu/infer", b"POST")):
            data = exchange(s.port, method + b" " + path + b" HTTP/1.1\r\nHost: h\r\nContent-Length: " + cl
                            + b"\r\n\r\nhello", timeout=3)
            n_heads = data.count(b"HTTP/1.1 ")
            st = statuses(data)
            t.check(n_heads == 0 or (n_heads == 1 and st[0] in (400, 413)),
                    "Content-Length %r on %s: one 400/413 or closed (%r)" % (cl, path, data[:300]))
    sk = connect(s.port)
    sk.sendall(b"POST /v2/models/relu/infer HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\nContent-Length: 2\r\n\r\n"
               % len(INFER) + INFER)
    data = read_until_close(sk, 3)
    sk.close()
    st = statuses(data)
    t.check(st == [400] and b"Content-Length" in data, "two different Content-Lengths: 400 (%r)" % data[:300])
    t.check(health_ok(s.port), "alive after bad Content-Length")


def main():
    t = Checker()
    with Server(tiny_repo(), "--threads", "2") as s:
        for name, case in (("slowloris", slowloris), ("oversized headers", oversized),
                           ("pipelining", pipelining), ("bad Content-Length", bad_content_length)):
            print("--", name, flush=True)
            case(t, s)
            ceiling(t, s, name)
        t.check(s.stop() == 0, "clean exit")
    t.finish()


if __name__ == "__main__":
    main()
