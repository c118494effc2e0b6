"""test_multihost.py — servers, a gateway and DNS on separate hosts: Linux network
namespaces joined by veth pairs to a bridge, each with its own address, as in
deploy/k8s/ (a headless Service's SRV records, a gateway that discovers the servers by DNS).

  ns "sw":  the bridge (the switch); the test's own end is a veth in the root namespace
  ns "dns": dnsmasq on 10.X.0.2:53, SRV _inferd._tcp.svc.test -> s1, s2 (port 8000)
  ns "s1", "s2": `inferd serve` on 0.0.0.0:8000 (the same port: different hosts)
  ns "gw":  `inferd gateway --dns _inferd._tcp.svc.test --dns-server 10.X.0.2:53`

1. Discovery across hosts: both servers become healthy channels with their real addresses;
   traffic from outside reaches both.
2. A network partition (s1's link down: packets dropped, connects time out): requests keep
   succeeding through s2 (retries), s1 is ejected; the link back up, s1 is re-admitted.
3. kill -9 of s2: s1 carries the traffic.
Needs root (CAP_NET_ADMIN), iproute2 and dnsmasq; skips (77) with a message otherwise.
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Gateway, Server, make_mlp, skip, wait_until  # noqa: E402

X = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]}
DNSMASQ = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.access("/usr/sbin/dnsmasq", os.X_OK) else None)
IP = shutil.which("ip") or ("/usr/sbin/ip" if os.access("/usr/sbin/ip", os.X_OK) else None)


def sh(*argv, check=True):
    return subprocess.run(argv, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Net:
    """The namespaces, the bridge and the addresses; delete() removes everything (deleting a
    namespace deletes its veth ends, and with them their peers)."""

    def __init__(self):
        self.tag = "ifd%04d" % random.randrange(10000)
        self.subnet = random.randrange(100, 250)
        self.names = []

    def ns(self, name):
        return "%s-%s" % (self.tag, name)

    def addr(self, host):
        return "10.%d.0.%d" % (self.subnet, host)

    def run(self, ns, *argv):
        return sh(IP, "netns", "exec", self.ns(ns), *argv)

    def create(self, hosts):
        sw = self.ns("sw")
        sh(IP, "netns", "add", sw)
        self.names.append(sw)
        self.run("sw", "ip", "link", "add", "br0", "type", "bridge")
        self.run("sw", "ip", "link", "set", "br0", "up")
        self.run("sw", "ip", "link", "set", "lo", "up")
        for name, host in hosts.items():
            port = "p-%s" % name  # the switch's end
            if name == "root":
                # the test's own address: a veth in the root namespace
                dev = "%s-h" % self.tag
                sh(IP, "link", "add", dev, "type", "veth", "peer", "name", port, "netns", sw)
                sh(IP, "addr", "add", "%s/24" % self.addr(host), "dev", dev)
                sh(IP, "link", "set", dev, "up")
            else:
                nsname = self.ns(name)
                sh(IP, "netns", "add", nsname)
                self.names.append(nsname)
                sh(IP, "link", "add", "eth0", "netns", nsname, "type", "veth", "peer", "name", port, "netns", sw)
                self.run(name, "ip", "addr", "add", "%s/24" % self.addr(host), "dev", "eth0")
                self.run(name, "ip", "link", "set", "eth0", "up")
                self.run(name, "ip", "link", "set", "lo", "up")
            self.run("sw", "ip", "link", "set", port, "master", "br0")
            self.run("sw", "ip", "link", "set", port, "up")

    def delete(self):
        for n in reversed(self.names):
            sh(IP, "netns", "del", n, check=False)
        self.names = []


def chans(gw):
    r = gw.get("/api/channels")
    return {c["id"]: c for c in r.json()["channels"]} if r.status == 200 else {}


def dns_chans(gw):
    return {c["base_url"]: c for c in chans(gw).values() if c.get("source", "").startswith("dns:")}


def load(gw, clients, per_client):
    """Bounded load: clients threads x per_client requests. Returns (ok, fail, channels seen)."""
    out = {"ok": 0, "fail": 0, "seen": set(), "errors": []}
    lock = threading.Lock()

    def one():
        for _ in range(per_client):
            try:
                r = gw.post_json("/v2/models/mlp/infer", X)
                good = r.status == 200
                what = r.headers.get("x-inferd-channel") if good else "%d %s" % (r.status, r.body[:120])
            except OSError as e:
                good, what = False, repr(e)
            with lock:
                out["ok" if good else "fail"] += 1
                (out["seen"].add if good else out["errors"].append)(what)

    ts = [threading.Thread(target=one) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("load %dx%d: ok %d fail %d via %s" % (clients, per_client, out["ok"], out["fail"], sorted(out["seen"])))
    return out


def main():
    if os.geteuid() != 0:
        skip("needs root to create network namespaces")
    if not IP or not DNSMASQ:
        skip("needs iproute2 (ip) and dnsmasq")
    try:
        import onnx  # noqa: F401
    except ImportError:
        skip("python3-onnx is not installed")
    net = Net()
    probe = sh(IP, "netns", "add", net.ns("probe"), check=False)
    if probe.returncode != 0:
        skip("cannot create a network namespace here: %s" % probe.stderr.strip())
    sh(IP, "netns", "del", net.ns("probe"), check=False)

    ck = Checker()
    tmp = tempfile.mkdtemp(prefix="inferd-multihost-")
    models = os.path.join(tmp, "models")
    make_mlp(os.path.join(models, "mlp", "1", "model.onnx"), seed=3)
    procs, servers, gw = [], {}, None
    try:
        net.create({"root": 1, "dns": 2, "s1": 11, "s2": 12, "gw": 20})
        conf = os.path.join(tmp, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write("local=/svc.test/\n")
            for name, host in (("s1", 11), ("s2", 12)):
                f.write("srv-host=_inferd._tcp.svc.test,%s.svc.test,8000\n" % name)
                f.write("host-record=%s.svc.test,%s\n" % (name, net.addr(host)))
        dlog = open(os.path.join(tmp, "dnsmasq.log"), "ab")
        procs.append(subprocess.Popen(
            [IP, "netns", "exec", net.ns("dns"), DNSMASQ, "--no-daemon", "--keep-in-foreground", "--port=53",
             "--listen-address=" + net.addr(2), "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=",
             "--user=root", "--conf-file=" + conf], stdout=dlog, stderr=dlog))
        for name, host in (("s1", 11), ("s2", 12)):
            servers[name] = Server(models, "--threads", "2", port=8000, netns=net.ns(name),
                                   addr=net.addr(host)).start()
        gw = Gateway(os.path.join(tmp, "gw.db"), "--dns", "_inferd._tcp.svc.test", "--dns-server",
                     "%s:53" % net.addr(2), "--dns-port", "8000", "--probe-interval", "500",
                     "--connect-timeout", "500", port=9090, netns=net.ns("gw"), addr=net.addr(20)).start()

        # -- 1. discovery across hosts --
        want = {"http://%s:8000" % net.addr(11), "http://%s:8000" % net.addr(12)}

        def both_healthy():
            d = dns_chans(gw)
            return {u.rstrip("/") for u, c in d.items() if c["state"] == "healthy"} >= want

        ck.check(wait_until(both_healthy, 30), "both servers are healthy channels at their own addresses: %s"
                 % {u: c["state"] for u, c in dns_chans(gw).items()})
        ids = {u.rstrip("/"): c["id"] for u, c in dns_chans(gw).items()}
        out = load(gw, 4, 30)
        ck.check(out["fail"] == 0 and len(out["seen"]) == 2,
                 "traffic from outside reaches both hosts: ok %d fail %d via %s %s"
                 % (out["ok"], out["fail"], sorted(out["seen"]), out["errors"][:3]))

        # -- 2. a partition: s1's link goes down (packets dropped, connects time out) --
        s1_url = "http://%s:8000" % net.addr(11)
        net.run("s1", "ip", "link", "set", "eth0", "down")
        out = load(gw, 4, 50)
        total = out["ok"] + out["fail"]
        ck.check(out["ok"] / total >= 0.99, "partitioned s1: requests still succeed: ok %d fail %d %s"
                 % (out["ok"], out["fail"], out["errors"][:3]))

        def s1_state():
            c = dns_chans(gw).get(s1_url) or dns_chans(gw).get(s1_url + "/")
            return c["state"] if c else None

        ck.check(wait_until(lambda: s1_state() in ("ejected", "half_open"), 30),
                 "the partitioned server is ejected: %s" % s1_state())
        out = load(gw, 2, 20)
        ck.check(out["fail"] == 0 and out["seen"] == {ids.get("http://%s:8000" % net.addr(12))},
                 "while it is out, s2 alone answers: %s %s" % (sorted(out["seen"]), out["errors"][:3]))
        net.run("s1", "ip", "link", "set", "eth0", "up")
        ck.check(wait_until(lambda: s1_state() == "healthy", 60),
                 "the link back up, s1 is re-admitted: %s" % s1_state())

        # -- 3. kill -9 of s2: s1 carries the traffic --
        servers["s2"].proc.kill()
        servers["s2"].proc.wait()
        out = load(gw, 4, 40)
        total = out["ok"] + out["fail"]
        ck.check(out["ok"] / total >= 0.99 and ids.get(s1_url) in out["seen"],
                 "s2 killed: s1 answers: ok %d fail %d via %s %s"
                 % (out["ok"], out["fail"], sorted(out["seen"]), out["errors"][:3]))
        ck.check(gw.stop() == 0, "the gateway exits 0 on SIGTERM")
        gw = None
    finally:
        if gw:
            gw.stop()
        for s in servers.values():
            s.stop()
        for p in procs:
            p.kill()
            p.wait()
        net.delete()
    if ck.failures:
        print(open(os.path.join(tmp, "dnsmasq.log"), errors="replace").read()[-2000:])
    ck.finish()


if __name__ == "__main__":
    main()
