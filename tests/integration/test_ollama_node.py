"""test_ollama_node.py — runs test_ollama_client.mjs (the official `ollama` npm client,
unchanged: chat and generate with and without stream, embed, list, show, ps, version, an
unknown model's error; tool calls on llama-2-tiny-random.gguf with a ChatML template) against
`inferd serve` with aidreams260K.gguf, and checks its greedy raw generate against the golden
llama.cpp text. Skips (77) without node, the npm package or
the model."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from node_client import run_client  # noqa: E402


def checks(t, seen, golden):
    t.check(seen["generate"] == golden["The"]["text"], "client generate == golden greedy text")
    t.check(seen["embed_dims"] == 64, "64-d embeddings")
    t.check(sorted(seen["list"]) == ["aidreams:latest", "tiny:latest"], "list: %r" % seen["list"])
    t.check(seen["tool_call"] and seen["tool_call"]["name"] == "add", "tool call: %r" % seen.get("tool_call"))


if __name__ == "__main__":
    run_client("ollama", "test_ollama_client.mjs", "", checks, tool_model=True)
