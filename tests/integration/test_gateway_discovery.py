"""test_gateway_discovery.py — channels come and go without a restart.

Against real processes on loopback: `inferd serve` instances, `inferd gateway`, Debian's
dnsmasq and etcd.
1. DNS: an SRV record pointing at a server appears in /api/channels (source dns:NAME) and
   serves traffic; the record removed (dnsmasq restarted with a new conf), the channel goes.
2. etcd: a server started with --register appears (source etcd:PREFIX); SIGTERM revokes its
   lease and it disappears.
3. Crawling: a server that knows a peer (--peer) makes the gateway find it: the peer
   appears as a crawled channel, is admitted after its probe and serves traffic.
4. The channels file: an entry added to the file appears, removed disappears.
Each part skips (with a message) when its program is not installed.
"""
import base64  # noqa: F401
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Gateway, Server, free_port, make_mlp, skip, wait_until, write_json  # noqa: E402

X = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]}
DNSMASQ = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.access("/usr/sbin/dnsmasq", os.X_OK) else None)
ETCD = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)


def chans(gw):
    r = gw.get("/api/channels")
    return {c["id"]: c for c in r.json()["channels"]} if r.status == 200 else {}


def by_source(gw, prefix):
    return {k: v for k, v in chans(gw).items() if v.get("source", "").startswith(prefix)}


class Proc:
    def __init__(self, argv, log):
        self.argv, self.logpath = argv, log
        self.proc = None

    def start(self):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None


def main():
    try:
        import onnx  # noqa: F401
    except ImportError:
        skip("python3-onnx is not installed")
    ck = Checker()
    tmp = tempfile.mkdtemp(prefix="inferd-gwd-")
    models = os.path.join(tmp, "models")
    make_mlp(os.path.join(models, "mlp", "1", "model.onnx"))
    chan_file = os.path.join(tmp, "channels.json")
    write_json(chan_file, [])
    dns_port = free_port()
    etcd_port, etcd_peer = free_port(), free_port()
    flags = ["--channels", chan_file, "--probe-interval", "300", "--crawl-interval", "500"]
    if DNSMASQ:
        flags += ["--dns", "_inferd._tcp.gw.test", "--dns-server", "127.0.0.1:%d" % dns_port]
    if ETCD:
        flags += ["--etcd", "etcd://127.0.0.1:%d/inferd/gw" % etcd_port]
    procs = []
    servers = []
    gw = None
    try:
        s_dns = Server(models, "--threads", "1").start()
        servers.append(s_dns)
        # -- 1. DNS --
        if DNSMASQ:
            conf = os.path.join(tmp, "dnsmasq.conf")

            def dnsmasq(text):
                with open(conf, "w") as f:
                    f.write("local=/gw.test/\n" + text)  # authoritative: NXDOMAIN, not REFUSED
                argv = [DNSMASQ, "--no-daemon", "--keep-in-foreground", "--port=%d" % dns_port,
                        "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                        "--pid-file=", "--conf-file=" + conf]
                if os.geteuid() == 0:
                    argv.append("--user=root")
                return Proc(argv, os.path.join(tmp, "dnsmasq.log")).start()

            d = dnsmasq("srv-host=_inferd._tcp.gw.test,srv1.gw.test,%d\nhost-record=srv1.gw.test,127.0.0.1\n"
                        % s_dns.port)
            procs.append(d)
        if ETCD:
            url = "http://127.0.0.1:%d" % etcd_port
            etcd = Proc([ETCD, "--name", "t", "--data-dir", os.path.join(tmp, "etcd"), "--listen-client-urls", url,
                         "--advertise-client-urls", url, "--listen-peer-urls", "http://127.0.0.1:%d" % etcd_peer,
                         "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % etcd_peer,
                         "--initial-cluster", "t=http://127.0.0.1:%d" % etcd_peer],
                        os.path.join(tmp, "etcd.log")).start()
            procs.append(etcd)
        gw = Gateway(os.path.join(tmp, "gw.db"), *flags).start()
        if DNSMASQ:
            ck.check(wait_until(lambda: any(c["state"] == "healthy" for c in by_source(gw, "dns:").values()), 20),
                     "an SRV record becomes a healthy channel: %s" % chans(gw))
            r = gw.post_json("/v2/models/mlp/infer", X)
            ck.check(r.status == 200 and r.headers.get("x-inferd-channel", "").startswith("dns-"),
                     "the DNS channel serves: %r %s" % (r, r.headers.get("x-inferd-channel")))
            d.stop()
            procs.remove(d)
            procs.append(dnsmasq("host-record=other.gw.test,127.0.0.1\n"))
            ck.check(wait_until(lambda: not by_source(gw, "dns:"), 20),
                     "the removed SRV record's channel disappears: %s" % chans(gw))
        else:
            print("SKIP part 1: dnsmasq is not installed")
        # -- 2. etcd --
        if ETCD:
            reg = Server(models, "--threads", "1", "--register", "etcd://127.0.0.1:%d/inferd/gw" % etcd_port,
                         "--register-ttl", "3").start()
            servers.append(reg)
            ck.check(wait_until(lambda: any(c["state"] == "healthy" for c in by_source(gw, "etcd:").values()), 20),
                     "a registered server becomes a channel: %s" % chans(gw))
            reg.stop()
            ck.check(wait_until(lambda: not by_source(gw, "etcd:"), 15),
                     "SIGTERM revokes the lease and the channel disappears: %s" % chans(gw))
        else:
            print("SKIP part 2: etcd is not installed")
        # -- 3. crawling --
        peer = Server(models, "--threads", "1").start()
        servers.append(peer)
        seed = Server(models, "--threads", "1", "--peer", "http://127.0.0.1:%d" % peer.port).start()
        servers.append(seed)
        write_json(chan_file, [{"id": "seed", "base_url": "http://127.0.0.1:%d" % seed.port}])
        ck.check(wait_until(lambda: "seed" in chans(gw), 10), "the file's channel appears")
        ck.check(wait_until(lambda: any(c["state"] == "healthy" for c in by_source(gw, "crawl").values()), 30),
                 "the seed's peer is crawled and admitted: %s" % chans(gw))
        seen = set()
        for _ in range(400):  # a newly admitted channel starts at 10% of its weight
            seen.add(gw.post_json("/v2/models/mlp/infer", X).headers.get("x-inferd-channel"))
            if any(s and s.startswith("crawl-") for s in seen):
                break
        ck.check(any(s and s.startswith("crawl-") for s in seen), "the crawled channel serves: %s" % seen)
        # -- 4. the file --
        write_json(chan_file, [])
        ck.check(wait_until(lambda: "seed" not in chans(gw), 10), "a channel removed from the file disappears")
        rc = gw.stop()
        ck.check(rc == 0, "the gateway exits 0 on SIGTERM, with no sanitizer report: %s\n%s" % (rc, gw.stderr_text()[-3000:]))
    finally:
        if gw:
            gw.stop()
        for s in servers:
            s.stop()
        for p in procs:
            p.stop()
    ck.finish()


if __name__ == "__main__":
    main()
