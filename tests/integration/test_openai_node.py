"""test_openai_node.py — runs test_openai_client.mjs (the official `openai` npm client,
unchanged) against `inferd serve` with aidreams260K.gguf, and checks its greedy completion
against the golden llama.cpp text. Skips (77) without node, the npm package or the model."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, skip, write_json  # noqa: E402

ROOT = os.environ.get("INFERD_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
GOLDEN = os.path.join(SHARED, "testdata", "llm", "golden_aidreams260K.json")


def main():
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(ROOT, "node_modules", "openai")):
        skip("node or node_modules/openai is absent")
    if not os.path.exists(GGUF):
        skip("aidreams260K.gguf is absent")
    golden = {c["prompt"]: c for c in json.load(open(GOLDEN))["cases"]}
    repo = tempfile.mkdtemp(prefix="inferd-oai-node-")
    os.makedirs(os.path.join(repo, "aidreams", "1"))
    os.symlink(GGUF, os.path.join(repo, "aidreams", "1", "model.gguf"))
    write_json(os.path.join(repo, "aidreams", "config.json"), {"context_size": 512, "parallel": 4})
    t = Checker()
    with Server(repo) as s:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_openai_client.mjs")
        p = subprocess.run([node, script, "http://127.0.0.1:%d/v1" % s.port, "aidreams"], capture_output=True,
                           timeout=300, env=dict(os.environ, INFERD_ROOT=ROOT))
        print(p.stdout.decode()[-2000:], p.stderr.decode()[-2000:])
        t.check(p.returncode == 0, "node client script passed")
        if p.returncode == 0:
            seen = json.loads(p.stdout.decode().strip().splitlines()[-1])
            t.check(seen["completion"] == golden["The"]["text"], "client completion == golden greedy text")
            t.check(seen["embedding_dims"] == 64, "64-d embeddings")
    t.finish()


if __name__ == "__main__":
    main()
