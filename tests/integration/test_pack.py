"""test_pack.py — `inferd pack`, `keygen`, `verify`, `register`, `list`, `show`, `rm` and
`serve --trust` on real ONNX models (built with python3-onnx):

- a package is served as it is (`serve --models PKG`) and answers like the model;
- config.json is inferred (inputs, outputs, batch dim) and --set overrides it;
- register into a repository: new model, new version, the same again (no-op), a
  conflicting version refused, a tampered package refused naming the file;
- serve --trust: an unsigned version and a version whose model file was changed after
  signing never become READY (the reason names the file), the signed one serves;
- kill -9 at random points of `inferd register` (new model and new version) leaves
  every version folder whole, and a re-run finishes the job and sweeps the leftovers."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, make_mlp, mlp_ref, skip, verify_repo, wait_until  # noqa: E402

try:
    import numpy as np
except ImportError:
    skip("numpy missing")

tmp = tempfile.mkdtemp(prefix="inferd-pack-")
c = Checker()


def run(*args, ok=True):
    p = subprocess.run([BIN] + list(args), cwd=tmp, capture_output=True, text=True, timeout=120)
    if ok and p.returncode != 0:
        print("command failed:", args, p.returncode, p.stdout, p.stderr)
    return p


def index(s):
    r = s.request("POST", "/v2/repository/index", b"")
    return {(e["name"], e["version"]): e for e in r.json()} if r.status == 200 else {}


def infer(s, model, x):
    r = s.post_json("/v2/models/%s/infer" % model,
                    {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]})
    if r.status != 200:
        return None
    return np.array(r.json()["outputs"][0]["data"], np.float32).reshape(x.shape[0], -1)


x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
w1 = make_mlp(os.path.join(tmp, "src", "mlp1.onnx"), seed=1)
w2 = make_mlp(os.path.join(tmp, "src", "mlp2.onnx"), seed=2)
make_mlp(os.path.join(tmp, "src", "fixed.onnx"), seed=3, batch=2)

# -- pack: layout, inferred config, overrides, refusals --
p = run("pack", "src/mlp1.onnx", "--name", "mlp", "--version", "1", "-o", "pkg1")
c.check(p.returncode == 0 and "packed mlp version 1" in p.stdout, "pack an ONNX model: %r" % p.stderr)
for f in ("mlp/config.json", "mlp/1/model.onnx", "mlp/1/config.json", "mlp/1/manifest.json"):
    c.check(os.path.isfile(os.path.join(tmp, "pkg1", f)), "package holds " + f)
with open(os.path.join(tmp, "pkg1/mlp/config.json")) as f:
    cfg = json.load(f)
c.check(cfg.get("backend") == "onnx" and cfg.get("max_batch_size") == 8, "batching inferred: %r" % cfg)
c.check(cfg.get("input") == [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}], "inputs inferred: %r" % cfg)
c.check(cfg.get("output") == [{"name": "y", "data_type": "TYPE_FP32", "dims": [3]}], "outputs inferred: %r" % cfg)
with open(os.path.join(tmp, "pkg1/mlp/1/manifest.json")) as f:
    man = json.load(f)
c.check(man["files"]["model.onnx"]["size"] == os.path.getsize(os.path.join(tmp, "src/mlp1.onnx"))
        and man["source"]["sha256"] == man["files"]["model.onnx"]["sha256"] and man["inferd_version"]
        and man["name"] == "mlp" and man["version"] == 1 and man["optimizations"] == [], "manifest: %r" % man)
p = run("pack", "src/fixed.onnx", "--name", "fixed", "-o", "pkgf", "--set", "max_queue_size=7",
        "--set", "note=plain text", "--max-batch-size", "0")
with open(os.path.join(tmp, "pkgf/fixed/config.json")) as f:
    cfgf = json.load(f)
c.check(p.returncode == 0 and cfgf["max_queue_size"] == 7 and cfgf["input"][0]["dims"] == [2, 4]
        and cfgf["note"] == "plain text" and cfgf["max_batch_size"] == 0,
        "fixed batch dim kept in dims, --set applied: %r %r" % (p.stderr, cfgf))
c.check(run("pack", "src/fixed.onnx", "--name", "fixed", "-o", "pkgf", ok=False).returncode == 1,
        "pack refuses an existing output folder")
p = run("pack", "src/fixed.onnx", "--name", "f", "-o", "bad", "--set", 'dynamic_batching={}', ok=False)
c.check(p.returncode == 1 and "dynamic_batching" in p.stderr, "batching a model without a batch dim refused")
p = run("pack", "src/mlp1.onnx", "--name", "mlp", "-o", "bad", "--set", "max_batch_size=-3", ok=False)
c.check(p.returncode == 1 and "max_batch_size" in p.stderr and not os.path.exists(os.path.join(tmp, "bad")),
        "a bad override is refused naming the member, nothing written: %r" % p.stderr)
p = run("pack", "src/mlp1.onnx", "--name", "../evil", ok=False)
c.check(p.returncode == 1 and "--name" in p.stderr, "a model name with a path refused: %r" % p.stderr)
with open(os.path.join(tmp, "src", "junk.onnx"), "wb") as f:
    f.write(b"\x0a\xff\xff\xff\xff\x0f garbage")
p = run("pack", "src/junk.onnx", "--name", "junk", ok=False)
c.check(p.returncode == 1 and "junk.onnx" in p.stderr and not os.path.exists(os.path.join(tmp, "junk-1")),
        "a corrupt model is refused at pack time: %r" % p.stderr)

# -- the package is a repository: serve it as it is --
with Server(os.path.join(tmp, "pkg1")) as s:
    y = infer(s, "mlp", x)
    c.check(y is not None and np.allclose(y, mlp_ref(w1, x), atol=1e-4), "packaged model serves its answers")

# -- keys, signing, verify --
c.check(run("keygen", "k").returncode == 0 and run("keygen", "other").returncode == 0, "keygen")
c.check(oct(os.stat(os.path.join(tmp, "k.key")).st_mode & 0o777) == "0o600", "secret key is 0600")
c.check(run("keygen", "k", ok=False).returncode == 1, "keygen never overwrites a key")
p = run("pack", "src/mlp2.onnx", "--name", "mlp", "--version", "2", "-o", "pkg2", "--sign", "k.key")
c.check(p.returncode == 0 and "signed" in p.stdout, "pack --sign")
c.check(run("verify", "pkg2", "--trust", "k.pub").returncode == 0, "verify --trust a signed package")
p = run("verify", "pkg2", "--trust", "other.pub", ok=False)
c.check(p.returncode == 1 and "not trusted" in p.stderr, "verify with another key: %r" % p.stderr)
p = run("verify", "pkg1", "--trust", "k.pub", ok=False)
c.check(p.returncode == 1 and "unsigned" in p.stderr, "verify --trust an unsigned package: %r" % p.stderr)
run("pack", "src/mlp1.onnx", "--name", "mlp", "--version", "3", "-o", "pkg3", "--sign", "k.key")
run("pack", "src/mlp2.onnx", "--name", "mlp", "--version", "4", "-o", "pkg4", "--sign", "k.key")
shutil.copytree(os.path.join(tmp, "pkg3"), os.path.join(tmp, "pkg3bad"))
with open(os.path.join(tmp, "pkg3bad/mlp/3/model.onnx"), "ab") as f:
    f.write(b"\0")
p = run("verify", "pkg3bad", ok=False)
c.check(p.returncode == 1 and "model.onnx" in p.stderr and "size mismatch" in p.stderr,
        "verify names the changed file: %r" % p.stderr)

# -- register, list, show, rm --
repo = os.path.join(tmp, "repo")
p = run("register", "pkg3bad", "--repo", "repo", ok=False)
c.check(p.returncode == 1 and "model.onnx" in p.stderr and not os.path.exists(os.path.join(repo, "mlp")),
        "a tampered package is not registered: %r" % p.stderr)
c.check(run("register", "pkg1", "--repo", "repo").returncode == 0, "register a new model")
p = run("register", "pkg2", "--repo", "repo", "--trust", "k.pub")
c.check(p.returncode == 0 and "signature verified" in p.stdout, "register --trust a signed version")
p = run("register", "pkg2", "--repo", "repo")
c.check(p.returncode == 0 and "already registered" in p.stdout, "register again is a no-op: %r" % p.stdout)
run("pack", "src/mlp1.onnx", "--name", "mlp", "--version", "2", "-o", "pkg2other")
p = run("register", "pkg2other", "--repo", "repo", ok=False)
c.check(p.returncode == 1 and "already registered with other contents" in p.stderr, "conflicting version refused")
p = run("register", "pkg1", "--repo", "repo", "--trust", "k.pub", ok=False)
c.check(p.returncode == 1 and "unsigned" in p.stderr, "register --trust refuses an unsigned package")
p = run("list", "--repo", "repo")
lines = p.stdout.strip().splitlines()
c.check(p.returncode == 0 and lines[0].startswith("NAME") and len(lines) == 3
        and lines[1].split()[:2] == ["mlp", "2"] and lines[1].split()[4] == "yes"
        and lines[2].split()[:2] == ["mlp", "1"] and lines[2].split()[4] == "no", "list: %r" % p.stdout)
p = run("show", "mlp", "--repo", "repo")
shown = json.loads(p.stdout) if p.returncode == 0 else {}
c.check([v["version"] for v in shown.get("versions", [])] == [2, 1] and shown["config"]["backend"] == "onnx"
        and shown["versions"][0]["manifest"]["files"]["model.onnx"]["sha256"], "show: %r" % p.stdout[:300])
p = run("show", "nope", "--repo", "repo", ok=False)
c.check(p.returncode == 1 and "nope" in p.stderr, "show an unknown model")

# -- serve --trust: unsigned and tampered versions never become READY --
with Server(repo, "--trust", os.path.join(tmp, "k.pub"), "--poll-ms", "100") as s:
    ix = index(s)
    c.check(ix.get(("mlp", "2"), {}).get("state") == "READY", "signed version READY: %r" % ix)
    y = infer(s, "mlp", x)
    c.check(y is not None and np.allclose(y, mlp_ref(w2, x), atol=1e-4), "signed version serves")
    # an unsigned newer version is refused; the signed one keeps serving
    shutil.copytree(os.path.join(tmp, "pkg1/mlp/1"), os.path.join(repo, "mlp", ".stage"))
    man_p = os.path.join(repo, "mlp", ".stage", "manifest.json")
    with open(man_p) as f:
        m5 = json.load(f)
    m5["version"] = 5
    with open(man_p, "w") as f:
        json.dump(m5, f)
    os.rename(os.path.join(repo, "mlp", ".stage"), os.path.join(repo, "mlp", "5"))
    c.check(wait_until(lambda: "unsigned" in index(s).get(("mlp", "5"), {}).get("reason", ""), 30),
            "unsigned version UNAVAILABLE with the reason: %r" % index(s))
    c.check(index(s).get(("mlp", "2"), {}).get("state") == "READY", "v2 still READY")
    # a signed version whose model file changed after signing: the file is named
    run("rm", "mlp:5", "--repo", "repo")
    c.check(run("register", "pkg4", "--repo", "repo").returncode == 0, "register v4")
    c.check(wait_until(lambda: index(s).get(("mlp", "4"), {}).get("state") == "READY", 30), "v4 READY")
    run("pack", "src/mlp1.onnx", "--name", "mlp", "--version", "6", "-o", "pkg6", "--sign", "k.key")
    shutil.copytree(os.path.join(tmp, "pkg6/mlp/6"), os.path.join(repo, "mlp", ".stage"))
    with open(os.path.join(repo, "mlp", ".stage", "model.onnx"), "r+b") as f:  # same size, other bytes
        f.seek(100)
        b = f.read(3)
        f.seek(100)
        f.write(bytes(v ^ 0xff for v in b))
    os.rename(os.path.join(repo, "mlp", ".stage"), os.path.join(repo, "mlp", "6"))
    ok = wait_until(lambda: "sha256 mismatch" in index(s).get(("mlp", "6"), {}).get("reason", ""), 30)
    c.check(ok and "model.onnx" in index(s)[("mlp", "6")]["reason"], "tampered version refused naming the file: %r"
            % index(s).get(("mlp", "6")))
    c.check(index(s).get(("mlp", "4"), {}).get("state") == "READY", "v4 still READY after a tampered v6")
    run("rm", "mlp:6", "--repo", "repo")
    # a signed version copied under a newer number (a replay) is refused
    shutil.copytree(os.path.join(tmp, "pkg3/mlp/3"), os.path.join(repo, "mlp", ".stage"))
    os.rename(os.path.join(repo, "mlp", ".stage"), os.path.join(repo, "mlp", "7"))
    ok = wait_until(lambda: "signed for mlp version 3" in index(s).get(("mlp", "7"), {}).get("reason", ""), 30)
    c.check(ok, "a signed version copied under another number refused: %r" % index(s).get(("mlp", "7")))
    run("rm", "mlp:7", "--repo", "repo")
    y = infer(s, "mlp", x)
    c.check(y is not None and np.allclose(y, mlp_ref(w2, x), atol=1e-4), "v4 serves")

# -- the model's config.json (outside the version's manifest) must be the signed copy --
shutil.copytree(os.path.join(tmp, "pkg2"), os.path.join(tmp, "pkg2cfg"))
cfg_p = os.path.join(tmp, "pkg2cfg", "mlp", "config.json")
with open(cfg_p) as f:
    cfg = json.load(f)
cfg["max_batch_size"] = 3
with open(cfg_p, "w") as f:
    json.dump(cfg, f)
p = run("register", "pkg2cfg", "--repo", "repo2", "--trust", "k.pub", ok=False)
c.check(p.returncode == 1 and "differs from the signed" in p.stderr, "register --trust refuses an unsigned "
        "model config.json: %r" % p.stderr)
repo2 = os.path.join(tmp, "repo2")
c.check(run("register", "pkg2", "--repo", "repo2", "--trust", "k.pub").returncode == 0, "register into repo2")
with open(os.path.join(repo2, "mlp", "config.json"), "w") as f:
    json.dump(cfg, f)  # swapped after registering
with Server(repo2, "--trust", os.path.join(tmp, "k.pub")) as s:
    ok = wait_until(lambda: "differs from the signed" in index(s).get(("mlp", "2"), {}).get("reason", ""), 30)
    c.check(ok and index(s).get(("mlp", "2"), {}).get("state") != "READY",
            "serve --trust: a model config.json other than the signed one keeps the version out: %r"
            % index(s).get(("mlp", "2")))

with open(os.path.join(tmp, "bad.pub"), "w") as f:
    f.write("ssh-ed25519 AAAA\n")
s = Server(repo, "--trust", os.path.join(tmp, "bad.pub"), ready_timeout=10)
try:
    s.start()
    started = True
except RuntimeError:
    started = False
s.stop() if started else None
c.check(not started and "bad.pub" in s.stderr_text(), "a bad trust file stops the server at start")

p = run("rm", "mlp:1", "--repo", "repo")
c.check(p.returncode == 0 and not os.path.exists(os.path.join(repo, "mlp", "1")), "rm one version")
p = run("rm", "mlp:99", "--repo", "repo", ok=False)
c.check(p.returncode == 1 and "no version 99" in p.stderr, "rm an unknown version")
p = run("rm", "mlp", "--repo", "repo")
c.check(p.returncode == 0 and not os.path.exists(os.path.join(repo, "mlp")), "rm a model")

# -- kill -9 during register: every version folder stays whole; a re-run completes --
make_mlp(os.path.join(tmp, "src", "big.onnx"), seed=5, din=256, dh=2048, dout=256)
c.check(run("pack", "src/big.onnx", "--name", "big", "--version", "2", "-o", "pkgbig", "-q").returncode == 0,
        "pack a bigger model")
run("pack", "src/mlp1.onnx", "--name", "big", "--version", "1", "-o", "pkgsmall", "-q")
rng = random.Random(1234)
killed = 0
for i in range(12):
    r = os.path.join(tmp, "k%d" % i)
    if i % 2:
        run("register", "pkgsmall", "--repo", r)  # the old state: big v1
    proc = subprocess.Popen([BIN, "register", "pkgbig", "--repo", r], cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, 0.03))
    proc.kill()
    killed += proc.wait() == -9
    if os.path.isdir(r):
        c.check(verify_repo(r), "after kill -9 #%d every version folder is whole" % i)
    if i % 2:
        c.check(os.path.isdir(os.path.join(r, "big", "1")), "after kill -9 #%d the old version is there" % i)
    p = run("register", "pkgbig", "--repo", r)
    c.check(p.returncode == 0, "re-run after kill -9 #%d completes: %r" % (i, p.stderr))
    c.check(verify_repo(r) and os.path.isdir(os.path.join(r, "big", "2")), "re-run #%d left v2 whole" % i)
    left = [e for e in os.listdir(r) + os.listdir(os.path.join(r, "big")) if e.startswith(".reg-") or ".tmp." in e]
    c.check(not left, "re-run #%d swept the dead register's leftovers: %r" % (i, left))
print("register killed mid-way %d of 12 times" % killed)

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
