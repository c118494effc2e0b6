"""hostile.py — shared pieces of the hostile-client suite (tests/hostile/README.md).

Every script starts the real `inferd serve` on 127.0.0.1 through tests/integration/harness.py,
attacks it over raw sockets, and after each case asserts a memory ceiling from
/proc/PID/status (VmHWM, the process's peak RSS), so a regression in memory use fails a test
without timing anything. Standard library only: the model repository holds a Relu model
written here as ONNX bytes, and the tiny GGUF llama from ../shared when present.

    from hostile import Checker, Server, tiny_repo, ceiling
    t = Checker()
    with Server(tiny_repo(), "--threads", "2") as s:
        ... attack ...
        ceiling(t, s, "case name")
    t.finish()
"""
import os
import socket
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Checker, Server, metric_value, skip, wait_until, write_json  # noqa: E402,F401

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
# ASan/TSan runs (scripts/test sets this): shadow memory and quarantine make RSS meaningless
SANITIZED = os.environ.get("INFERD_SANITIZED") == "1"
CEILING_MB = 300  # generous: an idle server with the tiny models holds ~20 MB


# -- a model without numpy/onnx: protobuf by hand --

def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _field(num, payload):
    """A length-delimited protobuf field (wire type 2)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int_field(num, value):
    return _varint(num << 3) + _varint(value)


def _value_info(name, dims):
    # ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1 (FLOAT), shape=2}}}
    shape = b"".join(_field(1, _field(2, d) if isinstance(d, str) else _int_field(1, d)) for d in dims)
    tensor = _int_field(1, 1) + _field(2, shape)
    return _field(1, name) + _field(2, _field(1, tensor))


def write_relu(path, width=4):
    """Writes an ONNX model y = Relu(x), x and y FLOAT [N, width] (opset 13)."""
    node = _field(1, "x") + _field(2, "y") + _field(4, "Relu")
    graph = (_field(1, node) + _field(2, "relu") + _field(11, _value_info("x", ["N", width]))
             + _field(12, _value_info("y", ["N", width])))
    model = _int_field(1, 8) + _field(7, graph) + _field(8, _field(1, "") + _int_field(2, 13))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model)


def tiny_repo(llms=None):
    """A model repository: "relu" (ONNX, x [N,4]) and, when the tiny GGUF is present, one
    language model per entry of llms ({name: config.json dict}). Returns its path."""
    root = tempfile.mkdtemp(prefix="inferd-hostile-")
    write_relu(os.path.join(root, "relu", "1", "model.onnx"))
    for name, cfg in (llms or {}).items():
        if not os.path.exists(GGUF):
            continue
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(GGUF, os.path.join(root, name, "1", "model.gguf"))
        write_json(os.path.join(root, name, "config.json"), cfg)
    return root


# -- memory --

def proc_kb(pid, field):
    """A kB field of /proc/PID/status ("VmHWM", "VmRSS"); 0 when absent."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def ceiling(t, s, case, mb=CEILING_MB):
    """Asserts the server's peak RSS so far stays under mb (skipped under sanitizers)."""
    hwm = proc_kb(s.proc.pid, "VmHWM")
    print("%s: VmHWM %d kB" % (case, hwm), flush=True)
    if not SANITIZED:
        t.check(hwm < mb * 1024, "%s: peak RSS under %d MB (%d kB)" % (case, mb, hwm))


# -- raw sockets --

def connect(port, timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_close(sk, timeout=5.0, limit=1 << 22):
    """Bytes until the peer closes (or resets), timeout passes, or limit bytes arrived."""
    data = b""
    deadline = time.time() + timeout
    try:
        while len(data) < limit:
            left = deadline - time.time()
            if left <= 0:
                break
            sk.settimeout(left)
            chunk = sk.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, OSError):
        pass
    return data


def exchange(port, payload, timeout=5.0):
    """Sends payload on a fresh connection and returns what came back (until close/timeout)."""
    sk = connect(port, timeout)
    try:
        try:
            sk.sendall(payload)
        except OSError:
            pass
        return read_until_close(sk, timeout)
    finally:
        sk.close()


def statuses(data):
    """The status codes of the HTTP/1.1 responses at the start of data and after each
    response's declared Content-Length body (pipelined answers), in order."""
    out = []
    while data.startswith(b"HTTP/1."):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            out.append(int(head.split(b" ", 2)[1]))
            break
        out.append(int(head.split(b" ", 2)[1]))
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        data = rest[n:]
    return out


def health_ok(port, timeout=10.0):
    """A fresh client asks GET /v2/health/ready; True when it got a 200."""
    try:
        data = exchange(port, b"GET /v2/health/ready HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", timeout)
    except OSError:
        return False
    return statuses(data)[:1] == [200]


def status_of(sk, timeout=10.0):
    """Reads one response head from sk; returns (status or 0, head text)."""
    sk.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sk.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, OSError):
        pass
    st = statuses(data)
    return (st[0] if st else 0), data.decode(errors="replace")


def f32(values):
    return struct.pack("<%df" % len(values), *values)
