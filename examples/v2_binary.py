#!/usr/bin/python3
"""v2_binary.py — calls the digits model with the KServe v2 binary tensor extension
(standard library only): the body is a JSON header followed by the raw little-endian
FP32 pixels, and the answer's probabilities come back as raw bytes too.

Usage: examples/v2_binary.py [http://127.0.0.1:8080]
"""
import json
import os
import struct
import sys
import urllib.request

url = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080").rstrip("/")
here = os.path.dirname(os.path.abspath(__file__))
pixels = json.load(open(os.path.join(here, "digits_predict.json")))["input_data"]  # a real 0

header = json.dumps({
    "inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32",
                "parameters": {"binary_data_size": 4 * len(pixels)}}],
    "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
req = urllib.request.Request(url + "/v2/models/digits/infer",
                             data=header + struct.pack("<%df" % len(pixels), *pixels),
                             headers={"Inference-Header-Content-Length": str(len(header)),
                                      "Content-Type": "application/octet-stream"})
with urllib.request.urlopen(req) as resp:
    body = resp.read()
    hlen = int(resp.headers["Inference-Header-Content-Length"])
answer = json.loads(body[:hlen])
out = answer["outputs"][0]
n = out["parameters"]["binary_data_size"] // 4
probs = struct.unpack("<%df" % n, body[hlen:hlen + 4 * n])
print("header:", json.dumps(answer))
print("digit %d (p=%.4f)" % (max(range(n), key=probs.__getitem__), max(probs)))
