"""test_gateway.py — `inferd gateway` in front of real `inferd serve` processes on loopback.

1. Three servers with the same MLP behind one gateway (channels file): every protocol goes
   through (v2 JSON and binary, /predict, TF-Serving, metadata, the model lists), answers
   carry X-Inferd-Channel, unknown models get 404 naming the model.
2. kill -9 one server under a steady bounded load (8 clients): success >= 99.9%, the dead
   one ejected; restarted on its port, it is re-admitted by a probe.
3. SIGSTOP one (a hang): requests time out onto the others (success >= 99.9%), it is
   ejected; SIGCONT, re-admitted.
4. A fourth server serving a different MLP under the same name: its canary answer differs
   from the other three, its state becomes bad_quality and it gets no traffic.
5. Keys: a key with a request quota gets 429 + Retry-After when it runs out; without a key
   401. Channels API: bad definitions get 400 naming the field; create/replace/delete; the
   admin key is needed; upstream keys never come back.
6. Restart with the same state: API channels, keys and request history are still there.
7. /metrics passes promtool (when installed); the access log names every attempt; with
   --hedge, requests slower than the fleet's p95 got a second attempt.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Gateway, Server, free_port, make_mlp, skip, wait_until, write_json  # noqa: E402

X = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                 "data": [0.1, 0.2, 0.3, 0.4, -1, 0.5, 2, 0.25]}]}


def channels(gw, headers):
    r = gw.request("GET", "/api/channels", headers=headers)
    return {c["id"]: c for c in r.json()["channels"]} if r.status == 200 else {}


def state_of(gw, cid, headers):
    return channels(gw, headers).get(cid, {}).get("state")


class Load:
    """n client threads posting v2 infer to the gateway until stopped."""

    def __init__(self, gw, n=8):
        self.gw, self.n = gw, n
        self.ok = self.fail = 0
        self.lat = []
        self.errors = []
        self.stop_flag = False
        self.lock = threading.Lock()
        body = json.dumps(X).encode()
        self.threads = [threading.Thread(target=self.run, args=(body,)) for _ in range(n)]

    def run(self, body):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=30)
        while not self.stop_flag:
            t = time.time()
            try:
                c.request("POST", "/v2/models/mlp/infer", body)
                r = c.getresponse()
                data = r.read()
                good = r.status == 200
                err = None if good else "%d %s" % (r.status, data[:200])
            except Exception as e:  # noqa: BLE001
                good, err = False, repr(e)
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=30)
            with self.lock:
                self.lat.append(time.time() - t)
                if good:
                    self.ok += 1
                else:
                    self.fail += 1
                    self.errors.append(err)
        c.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag = True
        for t in self.threads:
            t.join()

    def summary(self):
        lat = sorted(self.lat) or [0]
        return "ok %d fail %d p50 %.1f ms p99 %.1f ms" % (
            self.ok, self.fail, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3)


def main():
    try:
        import onnx  # noqa: F401
    except ImportError:
        skip("python3-onnx is not installed")
    ck = Checker()
    root = tempfile.mkdtemp(prefix="inferd-gw-")
    same = os.path.join(root, "same")
    other = os.path.join(root, "other")
    make_mlp(os.path.join(same, "mlp", "1", "model.onnx"), seed=0)
    make_mlp(os.path.join(other, "mlp", "1", "model.onnx"), seed=7)
    admin_file = os.path.join(root, "admin.keys")
    with open(admin_file, "w") as f:
        f.write("admin-secret-key\n")
    A = {"Authorization": "Bearer admin-secret-key"}
    servers = [Server(same, "--threads", "2").start() for _ in range(3)]
    ports = [s.port for s in servers]
    chan_file = os.path.join(root, "channels.json")
    write_json(chan_file, [{"id": "s%d" % i, "base_url": "http://127.0.0.1:%d" % p,
                            "api_key": "upstream-secret-%d" % i} for i, p in enumerate(ports)])
    state = os.path.join(root, "gw.db")
    access = os.path.join(root, "access.log")
    gw_flags = ["--channels", chan_file, "--admin-key-file", admin_file, "--access-log", access,
                "--probe-interval", "300", "--canary-interval", "600", "--first-byte-timeout", "1000",
                "--threads", "4", "--hedge", "mlp"]
    gw = Gateway(state, *gw_flags).start()
    wrong = None
    try:
        ck.check(wait_until(lambda: all(c.get("state") == "healthy" and "mlp" in c.get("models", [])
                                        for c in channels(gw, A).values()) and len(channels(gw, A)) == 3, 20),
                 "three channels healthy, serving mlp: %s" % channels(gw, A))
        # -- 1. protocols --
        r = gw.post_json("/v2/models/mlp/infer", X)
        ck.check(r.status == 200 and r.json()["outputs"][0]["shape"] == [2, 3], "v2 infer: %r" % r)
        ck.check(r.headers.get("x-inferd-channel") in ("s0", "s1", "s2"), "X-Inferd-Channel: %s" % r.headers)
        direct = servers[0].post_json("/v2/models/mlp/infer", X).json()
        ck.check(r.json()["outputs"] == direct["outputs"], "the gateway's answer is the server's")
        hdr = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                      "parameters": {"binary_data_size": 16}}]}).encode()
        import struct
        rb = gw.request("POST", "/v2/models/mlp/infer", hdr + struct.pack("<4f", 1, 2, 3, 4),
                        headers={"Inference-Header-Content-Length": str(len(hdr))})
        ck.check(rb.status == 200 and "outputs" in rb.body.decode("latin-1"), "v2 binary: %r" % rb)
        rp = gw.post_json("/predict", {"model": "mlp", "input_data": [[0.1, 0.2, 0.3, 0.4]]})
        ck.check(rp.status == 200 and rp.json().get("status") == "success", "/predict: %r" % rp)
        rt = gw.post_json("/v1/models/mlp:predict", {"instances": [[0.1, 0.2, 0.3, 0.4]]})
        ck.check(rt.status == 200 and "predictions" in rt.json(), "TF-Serving predict: %r" % rt)
        rm = gw.get("/v2/models/mlp")
        ck.check(rm.status == 200 and rm.json().get("name") == "mlp", "v2 metadata: %r" % rm)
        ri = gw.post("/v2/repository/index", b"")
        ck.check(ri.status == 200 and any(m["name"] == "mlp" and m["state"] == "READY" for m in ri.json()),
                 "repository index is the union: %r" % ri)
        r404 = gw.post_json("/v2/models/nosuch/infer", X)
        ck.check(r404.status == 404 and "nosuch" in r404.body.decode(), "unknown model: %r" % r404)
        rbad = gw.post("/predict", b"{")
        ck.check(rbad.status == 400 and "JSON" in rbad.body.decode(), "bad JSON: %r" % rbad)
        listed = gw.get("/api/channels", headers=A).body.decode()
        ck.check("upstream-secret" not in listed and "upst..." in listed, "upstream keys are never returned")

        # -- 2. kill -9 under load --
        with Load(gw) as ld:
            time.sleep(1.0)
            servers[1].proc.kill()
            servers[1].proc.wait()
            time.sleep(3.0)
        print("kill -9:", ld.summary())
        total = ld.ok + ld.fail
        ck.check(total > 50 and ld.ok / total >= 0.999, "kill -9: success %d/%d %s" % (ld.ok, total, ld.errors[:3]))
        ck.check(state_of(gw, "s1", A) in ("ejected", "half_open"), "killed channel ejected: %s" % state_of(gw, "s1", A))
        servers[1] = Server(same, "--threads", "2", port=ports[1]).start()
        ck.check(wait_until(lambda: state_of(gw, "s1", A) == "healthy", 40), "restarted channel re-admitted")
        ck.check(channels(gw, A)["s1"]["rollout"] < 1, "a re-admitted channel starts at a small share: %s"
                 % channels(gw, A)["s1"]["rollout"])

        # -- 3. SIGSTOP under load --
        with Load(gw) as ld:
            time.sleep(1.0)
            servers[2].proc.send_signal(signal.SIGSTOP)
            time.sleep(4.0)
        print("SIGSTOP:", ld.summary())
        total = ld.ok + ld.fail
        ck.check(total > 50 and ld.ok / total >= 0.999, "SIGSTOP: success %d/%d %s" % (ld.ok, total, ld.errors[:3]))
        ck.check(state_of(gw, "s2", A) in ("ejected", "half_open"), "hung channel ejected: %s" % state_of(gw, "s2", A))
        servers[2].proc.send_signal(signal.SIGCONT)
        ck.check(wait_until(lambda: state_of(gw, "s2", A) == "healthy", 40), "resumed channel re-admitted")

        # -- 4. a wrong model under the same name --
        wrong = Server(other, "--threads", "2").start()
        r = gw.post_json("/api/channels", {"id": "wrong", "base_url": "http://127.0.0.1:%d" % wrong.port}, headers=A)
        ck.check(r.status == 201, "add a channel through the API: %r" % r)
        ck.check(wait_until(lambda: state_of(gw, "wrong", A) == "bad_quality", 30),
                 "the wrong model's channel is marked bad_quality: %s" % channels(gw, A).get("wrong"))
        seen = set()
        for _ in range(60):
            seen.add(gw.post_json("/v2/models/mlp/infer", X).headers.get("x-inferd-channel"))
        ck.check("wrong" not in seen, "no traffic to the wrong channel: %s" % seen)
        reason = channels(gw, A).get("wrong", {}).get("reason", "")
        ck.check("canary" in reason, "the reason names the canary: %s" % reason)

        # -- 5. keys and the channels API --
        ck.check(gw.get("/api/channels").status == 401, "the channels API needs the admin key")
        for body, field in (({"base_url": "http://x:1"}, "id"), ({"id": "x"}, "base_url"),
                            ({"id": "x", "base_url": "ftp://x"}, "base_url"),
                            ({"id": "x", "base_url": "http://x:1", "protocol": "grpc"}, "protocol"),
                            ({"id": "x", "base_url": "http://x:1", "weight": 0}, "weight"),
                            ({"id": "x", "base_url": "http://x:1", "priority": "high"}, "priority"),
                            ({"id": "x", "base_url": "http://x:1", "bogus": 1}, "bogus"),
                            ({"id": "bad id!", "base_url": "http://x:1"}, "id")):
            r = gw.post_json("/api/channels", body, headers=A)
            ck.check(r.status == 400 and field in r.body.decode(), "bad channel %s -> 400 naming %s: %r" % (body, field, r))
        r = gw.post_json("/api/channels", {"id": "wrong", "base_url": "http://127.0.0.1:1"}, headers=A)
        ck.check(r.status == 409, "duplicate id -> 409: %r" % r)
        r = gw.request("PUT", "/api/channels/wrong", json.dumps({"base_url": "http://127.0.0.1:%d" % wrong.port,
                                                                  "enabled": False}), headers=A)
        ck.check(r.status == 200 and r.json().get("state") == "disabled", "PUT disables: %r" % r)
        ck.check(gw.request("DELETE", "/api/channels/s0", headers=A).status == 409,
                 "a file channel cannot be deleted through the API")
        r = gw.post_json("/api/keys", {"id": "team-a", "quota_requests": 3}, headers=A)
        ck.check(r.status == 201 and r.json().get("key", "").startswith("gw-"), "key created: %r" % r)
        key = r.json().get("key", "")
        K = {"Authorization": "Bearer " + key}
        ck.check(gw.post_json("/v2/models/mlp/infer", X).status == 401, "with keys stored, no key -> 401")
        codes = [gw.post_json("/v2/models/mlp/infer", X, headers=K).status for _ in range(4)]
        ck.check(codes == [200, 200, 200, 429], "quota of 3 then 429: %s" % codes)
        r = gw.post_json("/v2/models/mlp/infer", X, headers=K)
        ck.check(r.status == 429 and r.headers.get("retry-after"), "429 carries Retry-After: %r" % r.headers)
        r = gw.post_json("/api/keys", {"id": "slow", "key": "slow-key-0123456789", "rate_per_s": 0.5, "burst": 2},
                         headers=A)
        S = {"Authorization": "Bearer slow-key-0123456789"}
        codes = [gw.post_json("/v2/models/mlp/infer", X, headers=S) for _ in range(3)]
        ck.check([c.status for c in codes] == [200, 200, 429] and codes[2].headers.get("retry-after"),
                 "rate 0.5/s, burst 2: two pass, the third gets 429 + Retry-After: %s" % [c.status for c in codes])
        ck.check(gw.post_json("/api/keys", {"id": "x", "rate_per_s": -1}, headers=A).status == 400,
                 "a bad key definition gets 400")
        r = gw.post_json("/api/keys", {"id": "ops", "key": "ops-key-0123456789abcd"}, headers=A)
        K2 = {"Authorization": "Bearer ops-key-0123456789abcd"}
        listed = gw.get("/api/keys", headers=A).body.decode()
        ck.check(key not in listed and "team-a" in listed, "keys are listed without their secret")

        # -- 7. metrics and the access log --
        text = gw.get("/metrics").body.decode()
        ck.check('inferd_gateway_channel_requests_total{channel="s0"' in text, "per-channel metrics")
        ck.check(re.search(r'inferd_gateway_channel_latency_seconds_count\{channel="s0"\} [1-9]', text) is not None,
                 "per-channel latency histogram")
        ck.check(re.search(r'inferd_gateway_ejections_total\{channel="s1"\} [1-9]', text) is not None,
                 "ejections counted")
        ck.check(re.search(r'inferd_gateway_hedges_total\{model="mlp"\} [1-9]', text) is not None,
                 "requests slower than the fleet's p95 were hedged (--hedge mlp)")
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
            ck.check(p.returncode == 0, "promtool check metrics: %s" % p.stdout.decode()[-500:] + p.stderr.decode()[-500:])
        # a preferred channel that refuses connections: the request is retried on another and
        # the access log says why the first attempt failed
        dead = "http://127.0.0.1:%d" % free_port()
        r = gw.post_json("/api/channels", {"id": "deadend", "base_url": dead, "models": ["mlp"], "priority": -1},
                         headers=A)
        rd = gw.post_json("/v2/models/mlp/infer", X, headers=K2)
        gw.request("DELETE", "/api/channels/deadend", headers=A)
        ck.check(r.status == 201 and rd.status == 200, "retried past a dead channel: %r %r" % (r, rd))
        time.sleep(0.2)
        lines = [json.loads(x) for x in open(access)]
        mine = [x for x in lines if x.get("request_id") == rd.headers.get("x-request-id")]
        att = mine[0].get("attempts", []) if mine else []
        ck.check(len(att) >= 2 and att[0]["channel"] == "deadend" and "connect" in att[0]["result"].lower()
                 and mine[0]["channel"] != "deadend",
                 "the access log names every attempt and why it failed: %s" % mine)
        # -- 6. restart keeps channels, keys and history --
        gw.stop()
        gw = Gateway(state, *gw_flags).start()
        wait_until(lambda: {"s0", "s1", "s2"} <= set(channels(gw, A)), 10)  # the file is read on the first tick
        ck.check("wrong" in channels(gw, A), "the API channel survives a restart")
        ck.check(gw.post_json("/v2/models/mlp/infer", X, headers=K).status == 429,
                 "the key and its used quota survive a restart")
        rep = gw.get("/api/report", headers=A)
        ck.check(rep.status == 200, "report after restart: %r" % rep)
        if rep.status == 200:
            j = rep.json()
            unserved = [u["model"] for u in j.get("demand", {}).get("unserved", [])]
            ck.check("nosuch" in unserved, "demand mining: the requested model no channel serves: %s" % unserved)
            recs = " ".join(j.get("demand", {}).get("recommendations", []))
            ck.check("nosuch" in recs, "a recommendation names it: %s" % recs)
            byid = {c["id"]: c for c in j.get("channels", [])}
            ck.check(byid.get("s1", {}).get("requests", 0) > 0 or byid.get("s1", {}).get("window_requests", 0) > 0,
                     "history survives the restart (s1's requests): %s" % byid.get("s1"))
        page = gw.get("/report", headers=A)
        ck.check(page.status == 200 and page.headers.get("content-type", "").startswith("text/html")
                 and b"<svg" in page.body, "the report page with inline SVG: %r" % page)
        rc = gw.stop()
        ck.check(rc == 0, "the gateway exits 0 on SIGTERM, with no sanitizer report: %s\n%s" % (rc, gw.stderr_text()[-3000:]))
    finally:
        gw.stop()
        for s in servers + ([wrong] if wrong else []):
            try:
                s.proc and s.proc.send_signal(signal.SIGCONT)
            except Exception:  # noqa: BLE001
                pass
            s.stop()
    ck.finish()


if __name__ == "__main__":
    main()
