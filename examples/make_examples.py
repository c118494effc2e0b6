#!/usr/bin/python3
"""make_examples.py — writes the request files in examples/ from real data:
scikit-learn's bundled 8x8 digits images (scaled 0..16 -> 0..1, as
scripts/make_digits_model.py trains on them).

Usage: /usr/bin/python3 examples/make_examples.py   (needs Debian's python3-sklearn)
"""
import json
import os
import struct

from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))


def write_json(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f)
        f.write("\n")


def main():
    d = load_digits()
    # image 0 is a 0, image 3 is a 3 (d.target[:4] == [0, 1, 2, 3])
    zero = [round(float(v) / 16.0, 4) for v in d.data[0]]
    three = [round(float(v) / 16.0, 4) for v in d.data[3]]
    assert d.target[0] == 0 and d.target[3] == 3

    # KServe v2 / Triton JSON: two images in one request
    write_json("digits_v2.json", {
        "id": "example-1",
        "inputs": [{"name": "pixels", "shape": [2, 64], "datatype": "FP32", "data": zero + three}],
        "outputs": [{"name": "probabilities"}]})
    # /predict: one image, a batch dim of 1 is added by the server
    write_json("digits_predict.json", {"model": "digits", "input_data": zero})
    # TF-Serving row format
    write_json("digits_tfserving.json", {"instances": [zero, three]})
    # v2 binary tensor extension: JSON header, then the raw little-endian FP32 tensor
    header = json.dumps({
        "inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32",
                    "parameters": {"binary_data_size": 64 * 4}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}]},
        separators=(",", ":")).encode()
    with open(os.path.join(HERE, "digits_v2_binary.bin"), "wb") as f:
        f.write(header + struct.pack("<64f", *zero))
    print("binary header length:", len(header))
    # the openWakeWord "hello deepa" MLP takes 25 frames x 96 speech embeddings; there
    # is no speech-embedding model in the repository, so this is a fixed ramp, not speech
    frames = [[round(0.01 * ((i * 7 + j) % 50), 2) for j in range(96)] for i in range(25)]
    write_json("hello_deepa_v2.json", {
        "inputs": [{"name": "onnx::Flatten_0", "shape": [1, 25, 96], "datatype": "FP32",
                    "data": [frames]}]})


if __name__ == "__main__":
    main()
