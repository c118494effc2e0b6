"""node_client.py — what test_openai_node.py and test_ollama_node.py share: start `inferd
serve` with aidreams260K.gguf (as model "aidreams"; with tool_model also llama-2-tiny-random.gguf
as "tiny", ChatML template, passed as the script's third argument), run one test_*_client.mjs script of an
official npm client against it, and hand what the script saw to the caller's checks. Skips
(77) without node, the npm package or the model.

    run_client("ollama", "test_ollama_client.mjs", "", lambda t, seen, golden: ...)
"""
import json
import os
import shutil
import subprocess
import tempfile

from harness import Checker, Server, skip, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("INFERD_ROOT", os.path.join(HERE, "..", ".."))
SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
TINY = os.path.join(SHARED, "testdata", "llm", "llama-2-tiny-random.gguf")
GOLDEN = os.path.join(SHARED, "testdata", "llm", "golden_aidreams260K.json")


def run_client(package, script, url_path, checks, tool_model=False):
    """Runs script with the server's base URL (+ url_path) and the model name; checks(t,
    seen, golden) gets the script's last JSON line and the golden cases by prompt.
    tool_model: also serve "tiny" and pass it as the third argument."""
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(ROOT, "node_modules", package)):
        skip("node or node_modules/%s is absent" % package)
    if not os.path.exists(GGUF) or (tool_model and not os.path.exists(TINY)):
        skip("aidreams260K.gguf or llama-2-tiny-random.gguf is absent")
    golden = {c["prompt"]: c for c in json.load(open(GOLDEN))["cases"]}
    repo = tempfile.mkdtemp(prefix="inferd-%s-node-" % package)
    os.makedirs(os.path.join(repo, "aidreams", "1"))
    os.symlink(GGUF, os.path.join(repo, "aidreams", "1", "model.gguf"))
    write_json(os.path.join(repo, "aidreams", "config.json"), {"context_size": 512, "parallel": 4})
    # a random-weight llama with a ChatML template and room for tool prompts (third argument)
    if tool_model:
        os.makedirs(os.path.join(repo, "tiny", "1"))
        os.symlink(TINY, os.path.join(repo, "tiny", "1", "model.gguf"))
        write_json(os.path.join(repo, "tiny", "config.json"),
                   {"context_size": 4096, "parallel": 2, "chat_template": "chatml"})
    t = Checker()
    with Server(repo) as s:
        p = subprocess.run([node, os.path.join(HERE, script), "http://127.0.0.1:%d%s" % (s.port, url_path),
                            "aidreams"] + (["tiny"] if tool_model else []), capture_output=True, timeout=300, env=dict(os.environ, INFERD_ROOT=ROOT))
        print(p.stdout.decode()[-2000:], p.stderr.decode()[-2000:])
        t.check(p.returncode == 0, "node client script passed")
        if p.returncode == 0:
            checks(t, json.loads(p.stdout.decode().strip().splitlines()[-1]), golden)
    t.check(s.returncode == 0, "server exited 0 without a sanitizer report: %r" % s.returncode)
    t.finish()
