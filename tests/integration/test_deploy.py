"""test_deploy.py — what deploy/ ships works with the binary it ships.

1. deploy/k8s/: every object validates against the Kubernetes API schemas (npm
   kubernetes-models, via deploy_k8s_check.mjs), and the objects agree with each other:
   selectors match pod labels, Services and probes name ports the containers declare, the
   server Service is headless and the gateway discovers exactly its SRV name, the HPA and
   the PodDisruptionBudgets point at the Deployments, scrape annotations name the port.
2. The containers' args run: the real binary started with the server's and the gateway's
   args from the manifests (only paths, host and port replaced) answers every probe path.
3. deploy/systemd/: `systemd-analyze verify` accepts each unit, `systemd-analyze security`
   rates its sandbox "OK" or better (exposure <= 2.0), and its ExecStart line runs.
4. deploy/Containerfile: the runtime stage installs a package for every shared library the
   binary links (readelf NEEDED -> dpkg -S), so the image starts.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Gateway, Server, free_port, make_mlp, wait_until  # noqa: E402

ROOT = os.environ.get("INFERD_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
DEPLOY = os.path.join(ROOT, "deploy")
HERE = os.path.dirname(os.path.abspath(__file__))


def k8s_objects(ck):
    node = shutil.which("node")
    mods = os.path.join(ROOT, "node_modules", "kubernetes-models")
    if not node or not os.path.isdir(mods):
        print("SKIP part 1: node or npm kubernetes-models is missing (scripts/setup installs them)")
        return None
    # node resolves kubernetes-models upwards from the script's directory: ROOT/node_modules
    p = subprocess.run([node, os.path.join(HERE, "deploy_k8s_check.mjs"), os.path.join(DEPLOY, "k8s")], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    ck.check(p.returncode == 0, "the manifest check ran: %s" % p.stderr[-2000:])
    out = json.loads(p.stdout) if p.returncode == 0 else {"objects": [], "errors": ["did not run"]}
    ck.check(not out["errors"], "every manifest validates against the Kubernetes schemas: %s" % out["errors"])
    return out["objects"]


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_k8s(ck, objs):
    kinds = {}
    for o in objs:
        kinds.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    for kind, n in (("Deployment", 2), ("Service", 2), ("PodDisruptionBudget", 2), ("HorizontalPodAutoscaler", 1),
                    ("ConfigMap", 1), ("PersistentVolumeClaim", 1), ("Namespace", 1)):
        ck.check(len(kinds.get(kind, {})) == n, "%d %s object(s): %s" % (n, kind, sorted(kinds.get(kind, {}))))
    deps = kinds.get("Deployment", {})
    server, gateway = deps.get("inferd-server"), deps.get("inferd-gateway")
    if not server or not gateway:
        ck.check(False, "Deployments inferd-server and inferd-gateway exist")
        return None, None
    ns = next(iter(kinds.get("Namespace", {})), None)
    for d in deps.values():
        tpl = d["spec"]["template"]
        labels = tpl["metadata"]["labels"]
        ck.check(matches(d["spec"]["selector"]["matchLabels"], labels), "%s: selector matches its pods"
                 % d["metadata"]["name"])
        c = tpl["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            ck.check(probe in c and c[probe]["httpGet"]["port"] in ports, "%s: %s on a declared port"
                     % (d["metadata"]["name"], probe))
        ann = tpl["metadata"].get("annotations", {})
        ck.check(ann.get("prometheus.io/scrape") == "true" and int(ann.get("prometheus.io/port", 0)) in ports.values()
                 and ann.get("prometheus.io/path") == "/metrics", "%s: scrape annotations name its port"
                 % d["metadata"]["name"])
        ck.check("memory" in c.get("resources", {}).get("requests", {}) and "cpu" in c["resources"]["requests"],
                 "%s: resource requests" % d["metadata"]["name"])
    svcs = kinds.get("Service", {})
    for s in svcs.values():
        target = [d for d in deps.values() if matches(s["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        ck.check(len(target) == 1, "Service %s selects one Deployment's pods" % s["metadata"]["name"])
        if target:
            c = target[0]["spec"]["template"]["spec"]["containers"][0]
            names = {p["name"] for p in c["ports"]}
            ck.check(all(p["targetPort"] in names for p in s["spec"]["ports"]),
                     "Service %s targets a declared port" % s["metadata"]["name"])
    ssvc = [s for s in svcs.values() if matches(s["spec"]["selector"], server["spec"]["template"]["metadata"]["labels"])]
    if ssvc:
        s = ssvc[0]
        ck.check(s["spec"].get("clusterIP") == "None", "the server Service is headless (one DNS answer per pod)")
        srv = "_%s._tcp.%s.%s.svc.cluster.local" % (s["spec"]["ports"][0]["name"], s["metadata"]["name"], ns)
        gargs = gateway["spec"]["template"]["spec"]["containers"][0]["args"]
        ck.check("--dns=" + srv in gargs, "the gateway discovers the server Service's SRV name %s: %s" % (srv, gargs))
    for p in kinds.get("PodDisruptionBudget", {}).values():
        ck.check(any(matches(p["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
                     for d in deps.values()), "PDB %s selects a Deployment's pods" % p["metadata"]["name"])
    for h in kinds.get("HorizontalPodAutoscaler", {}).values():
        ref = h["spec"]["scaleTargetRef"]
        ck.check(ref["kind"] == "Deployment" and ref["name"] in deps, "HPA %s scales a Deployment" % h["metadata"]["name"])
        names = [m["pods"]["metric"]["name"] for m in h["spec"]["metrics"] if m["type"] == "Pods"]
        ck.check(names, "HPA %s scales on a per-pod inferd metric: %s" % (h["metadata"]["name"], names))
        h["_pod_metrics"] = names
    pvc = next(iter(kinds.get("PersistentVolumeClaim", {})), None)
    vols = server["spec"]["template"]["spec"]["volumes"]
    ck.check(any(v.get("persistentVolumeClaim", {}).get("claimName") == pvc for v in vols),
             "the servers mount the models claim")
    return server, gateway, kinds


def probe_paths(container):
    return {container[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe", "startupProbe")
            if p in container}


def args_with(args, **repl):
    """The container's args with --name=value flags replaced (name with '_' for '-')."""
    out = []
    for a in args:
        name = a.split("=", 1)[0]
        key = name.lstrip("-").replace("-", "_")
        out.append("%s=%s" % (name, repl[key]) if key in repl else a)
    return out


def run_k8s_args(ck, tmp, server, gateway, kinds):
    models = os.path.join(tmp, "models")
    make_mlp(os.path.join(models, "mlp", "1", "model.onnx"), seed=1)
    sc = server["spec"]["template"]["spec"]["containers"][0]
    sargs = sc["args"]
    ck.check(sargs[0] == "serve", "the server container runs `inferd serve`")
    # the Server harness adds --models/--host/--port itself: pass the other flags as they are
    flags = [a for a in args_with(sargs[1:]) if a.split("=")[0] not in ("--models", "--host", "--port")]
    with Server(models, *flags) as s:
        for path in sorted(probe_paths(sc)):
            r = s.get(path)
            ck.check(r.status == 200, "server probe %s answers 200 (%d)" % (path, r.status))
        mtext = s.get("/metrics").body.decode()
        for h in kinds.get("HorizontalPodAutoscaler", {}).values():
            for m in h.get("_pod_metrics", []):
                ck.check("# TYPE %s " % m in mtext, "the HPA's metric %s is one the server exports" % m)
    gc = gateway["spec"]["template"]["spec"]["containers"][0]
    gargs = gc["args"]
    ck.check(gargs[0] == "gateway", "the gateway container runs `inferd gateway`")
    cm = next(iter(kinds.get("ConfigMap", {}).values()))
    chfile = os.path.join(tmp, "channels.json")
    with open(chfile, "w") as f:
        f.write(cm["data"]["channels.json"])
    flags = [a for a in args_with(gargs[1:], channels=chfile) if a.split("=")[0] not in ("--host", "--port", "--state")]
    # the cluster's DNS is not here: a resolver that answers nothing, so discovery just finds no one
    flags += ["--dns-server", "127.0.0.1:%d" % free_port()]
    with Gateway(os.path.join(tmp, "gw.db"), *flags) as g:
        for path in sorted(probe_paths(gc)):
            r = g.get(path)
            # readiness waits for a healthy channel, which only the cluster has: 503, not 404
            ck.check(r.status in (200, 503) and (r.status == 200 or "ready" in path),
                     "gateway probe %s is served (%d)" % (path, r.status))
        ck.check(g.get("/v2/health/live").status == 200, "the gateway with the manifest's args is live")


def check_systemd(ck, tmp):
    sa = shutil.which("systemd-analyze")
    if not sa:
        print("SKIP part 3: systemd-analyze is missing (package systemd; scripts/setup installs it)")
        return
    for unit in sorted(os.listdir(os.path.join(DEPLOY, "systemd"))):
        text = open(os.path.join(DEPLOY, "systemd", unit)).read().replace("/usr/local/bin/inferd", BIN)
        path = os.path.join(tmp, unit)
        with open(path, "w") as f:
            f.write(text)
        v = subprocess.run([sa, "verify", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ck.check(v.returncode == 0 and unit not in v.stdout, "systemd-analyze verify %s: %s" % (unit, v.stdout[-1500:]))
        sec = subprocess.run([sa, "security", "--offline=yes", path], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", sec.stdout)
        ck.check(m and float(m.group(1)) <= 2.0, "%s: sandbox exposure %s <= 2.0 (OK)" % (unit, m and m.group(1)))
        # the ExecStart line runs: its flags exist (paths moved under tmp, port free)
        cmd = re.search(r"^ExecStart=(.*?)(?<!\\)$", text.replace("\\\n", " "), re.M).group(1)
        argv = shlex.split(cmd)
        port = free_port()
        fixed = []
        for a in argv:
            if "=" in a and a.startswith("--"):
                name, val = a.split("=", 1)
                if val.startswith("/var/") or val.startswith("/etc/"):
                    val = os.path.join(tmp, unit + "-" + os.path.basename(val))
                    if name == "--models":
                        os.makedirs(val, exist_ok=True)
                    if name == "--channels":
                        with open(val, "w") as f:
                            f.write("[]")
                elif name == "--port":
                    val = str(port)
                elif name == "--host":
                    val = "127.0.0.1"
                a = "%s=%s" % (name, val)
            fixed.append(a)
        log = open(os.path.join(tmp, unit + ".log"), "wb")
        p = subprocess.Popen(fixed, stdout=log, stderr=log)
        import http.client

        def live():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/v2/health/live")
                return c.getresponse().status == 200
            except OSError:
                return False

        ck.check(wait_until(live, 30), "%s: its ExecStart line starts a live process" % unit)
        p.terminate()
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        ck.check(rc == 0, "%s: exits 0 on SIGTERM (%s)" % (unit, rc))


def check_containerfile(ck):
    text = open(os.path.join(DEPLOY, "Containerfile")).read()
    stages = re.split(r"^FROM ", text, flags=re.M)
    runtime = stages[-1].replace("\\\n", " ")  # continuation lines joined
    m = re.search(r"apt-get install ([^&\n]*)", runtime)
    pkgs = {w for w in (m.group(1).split() if m else []) if not w.startswith("-")}
    ck.check(pkgs, "the runtime stage installs packages: %s" % sorted(pkgs))
    if not shutil.which("dpkg") or not shutil.which("readelf"):
        print("SKIP part 4: dpkg or readelf is missing")
        return
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", BIN], stdout=subprocess.PIPE, text=True).stdout)
    ldd = subprocess.run(["ldd", BIN], stdout=subprocess.PIPE, text=True).stdout
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))

    def owner(path):
        real = os.path.realpath(path)
        for cand in (real, real[4:] if real.startswith("/usr/") else "/usr" + real):
            r = subprocess.run(["dpkg", "-S", cand], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if r.returncode == 0:
                return r.stdout.split(":")[0]
        return None

    def field(pkg, name):
        r = subprocess.run(["dpkg-query", "-W", "-f=${%s}" % name, pkg], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return r.stdout

    deps = set()
    for p in pkgs:
        deps |= set(re.findall(r"([a-z0-9][a-z0-9.+-]+)", field(p, "Depends")))
    for lib in needed:
        pkg = owner(where.get(lib, lib))
        ok = pkg and (pkg in pkgs or pkg in deps or field(pkg, "Priority") == "required")
        ck.check(ok, "the image provides %s (package %s)" % (lib, pkg))


def main():
    ck = Checker()
    tmp = tempfile.mkdtemp(prefix="inferd-deploy-")
    objs = k8s_objects(ck)
    if objs is not None:
        server, gateway, kinds = check_k8s(ck, objs)
        if server and gateway:
            try:
                import onnx  # noqa: F401
                run_k8s_args(ck, tmp, server, gateway, kinds)
            except ImportError:
                print("SKIP part 2: python3-onnx is not installed")
    check_systemd(ck, tmp)
    check_containerfile(ck)
    ck.finish()


if __name__ == "__main__":
    main()
