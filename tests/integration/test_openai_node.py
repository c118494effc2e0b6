"""test_openai_node.py — runs test_openai_client.mjs (the official `openai` npm client,
unchanged) against `inferd serve` with aidreams260K.gguf, and checks its greedy completion
against the golden llama.cpp text. Skips (77) without node, the npm package or the model."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from node_client import run_client  # noqa: E402


def checks(t, seen, golden):
    t.check(seen["completion"] == golden["The"]["text"], "client completion == golden greedy text")
    t.check(seen["embedding_dims"] == 64, "64-d embeddings")
    t.check(seen["tool_call"] and seen["tool_call"]["name"] == "add", "a forced tool call: %r" % seen.get("tool_call"))


if __name__ == "__main__":
    run_client("openai", "test_openai_client.mjs", "/v1", checks, tool_model=True)
