"""llm_tool_json.py LLM_TOOL MODEL.gguf TMPDIR: llm_tool recache and llm_tool bench print
valid JSON for a model path holding a quote, a backslash and a control character (the path
is escaped with base/json_write.h), and the path reads back unchanged."""
import json
import os
import shutil
import subprocess
import sys

tool, model, tmp = sys.argv[1:4]
if not os.path.exists(model):
    print("skip: %s is missing (../shared/testdata)" % model)
    sys.exit(77)
os.makedirs(tmp, exist_ok=True)
path = os.path.join(tmp, 'we"ird\\name\t.gguf')
shutil.copyfile(model, path)
try:
    for args, key in ((["recache", path], "file"), (["bench", path, "-t", "1", "-p", "4", "-n", "4", "-r", "1"], "model")):
        out = subprocess.run([tool] + args, capture_output=True, text=True, check=True).stdout
        lines = [l for l in out.splitlines() if l.startswith("{")]
        assert len(lines) == 1, out
        doc = json.loads(lines[0])
        assert doc[key] == path, (doc[key], path)
finally:
    os.remove(path)
print("ok")
