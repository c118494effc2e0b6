#!/usr/bin/env python3
"""ocr_client.py — send an image file to inferd's OCR pipeline over the KServe v2 binary
extension and print each line read: ocr_client.py http://127.0.0.1:8080 image.png [model].
Standard library only."""
import http.client
import json
import struct
import sys
import urllib.parse


def ocr(base, path, model="ocr"):
    data = open(path, "rb").read()
    part = struct.pack("<I", len(data)) + data  # one BYTES element: 4-byte length, then the bytes
    hdr = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                  "parameters": {"binary_data_size": len(part)}}]}).encode()
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
    c.request("POST", "/v2/models/%s/infer" % model, body=hdr + part,
              headers={"Inference-Header-Content-Length": str(len(hdr)), "Content-Type": "application/octet-stream"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("HTTP %d: %s" % (r.status, body.decode(errors="replace")))
    outs = {o["name"]: o for o in json.loads(body)["outputs"]}
    return outs["text"]["data"], outs["boxes"]["data"], outs["scores"]["data"]


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    text, boxes, scores = ocr(sys.argv[1], sys.argv[2], *(sys.argv[3:4]))
    for i, t in enumerate(text):
        b = boxes[i * 8:(i + 1) * 8]
        print("%-24s score %.2f  box (%d,%d)-(%d,%d)" % (t, scores[i], b[0], b[1], b[4], b[5]))
