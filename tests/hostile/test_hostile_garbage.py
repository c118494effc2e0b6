"""test_hostile_garbage.py — random bytes and mutated valid requests over raw sockets, against
`inferd serve --threads 2` with the Relu model and the tiny GGUF llama.

400 seeded inputs (half random byte strings, half valid requests with bytes flipped,
inserted, deleted, duplicated or cut), 16 connections at a time; each is sent, the write side
closed, and the answer read until the server closes (--conn-timeout 1: libmicrohttpd
keeps a half-closed connection with a partial request until its idle timeout). The server stays
alive, answers no garbage with a 5xx other than 503 (a limit) or 501/505 (a feature or HTTP
version it does not speak), answers a fresh client's
/v2/health/ready at the end, and its peak RSS stays under the ceiling. The seed is printed,
and INFERD_HOSTILE_SEED replays a run.
"""
import concurrent.futures
import json
import os
import random
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile import Checker, Server, ceiling, connect, health_ok, read_until_close, tiny_repo  # noqa: E402

N_INPUTS = 400


def http_req(method, path, body=b"", headers=()):
    h = b"%s %s HTTP/1.1\r\nHost: g\r\n" % (method, path)
    for k, v in headers:
        h += b"%s: %s\r\n" % (k, v)
    if body:
        h += b"Content-Length: %d\r\n" % len(body)
    return h + b"\r\n" + body


def seeds():
    v2 = json.dumps({"id": "a", "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                                            "data": [1, 2, 3, 4, 5, 6, 7, 8]}]}).encode()
    header = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 16}}],
                         "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
    binary = header + struct.pack("<4f", 1, -2, 3, -4)
    chat = json.dumps({"model": "one", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4,
                       "stream": True}).encode()
    comp = json.dumps({"model": "one", "prompt": ["a", "b"], "max_tokens": 3, "logprobs": 2, "stop": ["\n"]}).encode()
    chunked = (b"POST /v2/models/relu/infer HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n" % len(v2) + v2 + b"\r\n0\r\n\r\n")
    return [
        http_req(b"POST", b"/v2/models/relu/infer", v2, [(b"Content-Type", b"application/json")]),
        http_req(b"POST", b"/v2/models/relu/versions/1/infer", binary,
                 [(b"Inference-Header-Content-Length", b"%d" % len(header))]),
        http_req(b"POST", b"/predict", json.dumps({"model": "relu", "input_data": [[1, 2, 3, 4]]}).encode()),
        http_req(b"POST", b"/v1/models/relu:predict", json.dumps({"instances": [[1, 2, 3, 4]]}).encode()),
        http_req(b"POST", b"/v1/chat/completions", chat, [(b"Content-Type", b"application/json")]),
        http_req(b"POST", b"/v1/completions", comp),
        http_req(b"POST", b"/v1/embeddings", json.dumps({"model": "one", "input": ["a", "b"]}).encode()),
        http_req(b"POST", b"/tokenize", json.dumps({"model": "one", "prompt": "hello"}).encode()),
        http_req(b"GET", b"/v2/models/relu", b"", [(b"X-Request-Timeout-Ms", b"100")]),
        http_req(b"GET", b"/v2/repository/index") + http_req(b"GET", b"/metrics"),
        chunked,
        http_req(b"GET", b"/v2/health/ready") * 3,
    ]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 2:
            del data[pos:pos + rng.randint(1, 32)]
        elif op == 3:
            data[pos:pos] = data[max(0, pos - 64):pos] * rng.randint(1, 8)
        elif op == 4:
            data = data[:pos]
        else:  # a digit run replaced by a big or odd number
            data[pos:pos] = rng.choice([b"99999999999999999999", b"-1", b"1e308", b"0x10", b"\x00", b"%00", b"\r\n"])
    return bytes(data)


def random_bytes(rng):
    kind = rng.randrange(3)
    n = rng.choice([1, 8, 64, 512, 4096])
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(n))
    if kind == 1:  # printable, with line breaks: looks more like a request
        return "".join(rng.choice("GETPOST /v2:?%\r\n HTTP/1.1abc{}[]\",0123456789") for _ in range(n)).encode()
    return rng.choice([b"GET ", b"POST ", b"PUT ", b"\x16\x03\x01"]) + bytes(rng.randrange(256) for _ in range(n))


def send_one(port, payload):
    """Returns the status codes answered (parsed from every status line in the reply)."""
    try:
        sk = connect(port, timeout=5)
    except OSError as e:
        return ["connect: %s" % e]
    try:
        try:
            sk.sendall(payload)
            sk.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data = read_until_close(sk, timeout=3, limit=1 << 20)
    finally:
        sk.close()
    codes = []
    for line in data.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 ") and line[9:12].isdigit():
            codes.append(int(line[9:12]))
    return codes


def main():
    t = Checker()
    seed = int(os.environ.get("INFERD_HOSTILE_SEED", random.randrange(1 << 30)))
    print("seed", seed, "(INFERD_HOSTILE_SEED replays it)", flush=True)
    rng = random.Random(seed)
    valid = seeds()
    inputs = [random_bytes(rng) if i % 2 else mutate(rng, rng.choice(valid)) for i in range(N_INPUTS)]
    root = tiny_repo({"one": {"context_size": 512, "parallel": 2, "max_queue_size": 16}})
    with Server(root, "--threads", "2", "--conn-timeout", "1") as s:
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            answers = list(ex.map(lambda p: send_one(s.port, p), inputs))
        # 503: a limit; 501, 505: a feature or HTTP version the server does not speak
        bad = [(inputs[i][:120], a) for i, a in enumerate(answers)
               if any(isinstance(c, str) or (c >= 500 and c not in (501, 503, 505)) for c in a)]
        t.check(not bad, "no 5xx but 501/503/505 to garbage: %d inputs, first %r" % (len(bad), bad[:3]))
        t.check(s.proc.poll() is None, "the server is still running")
        t.check(health_ok(s.port), "a fresh client's /v2/health/ready answers after the garbage")
        n_answered = sum(1 for a in answers if a)
        print("%d of %d inputs got an answer; statuses seen: %s" % (
            n_answered, len(inputs), sorted({c for a in answers for c in a if isinstance(c, int)})), flush=True)
        ceiling(t, s, "random garbage")
        t.check(s.stop() == 0, "clean exit")
    t.finish()


if __name__ == "__main__":
    main()
