"""gguf_info.py — the tensor table of a GGUF v3 file, for tests and benches that compare
quantized files (types per tensor and their bytes)."""
import struct

TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K", 11: "Q3_K",
         12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 20: "IQ4_NL", 23: "IQ4_XS", 30: "BF16"}


def gguf_tensors(path):
    """{name: (type name, bytes of its data)} of a GGUF v3 file (alignment 32 unless set)."""
    with open(path, "rb") as f:
        data = f.read()
    off = 4
    _ver, n_t, n_kv = struct.unpack_from("<IQQ", data, off)
    off += 20
    align = 32

    def rstr(o):
        n = struct.unpack_from("<Q", data, o)[0]
        return data[o + 8:o + 8 + n].decode(), o + 8 + n
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_val(t, o):
        if t == 8:
            return rstr(o)[1]
        if t == 9:
            et, n = struct.unpack_from("<IQ", data, o)
            o += 12
            for _ in range(n):
                o = skip_val(et, o)
            return o
        return o + sizes[t]
    for _ in range(n_kv):
        key, off = rstr(off)
        t = struct.unpack_from("<I", data, off)[0]
        if key == "general.alignment":
            align = struct.unpack_from("<I", data, off + 4)[0]
        off = skip_val(t, off + 4)
    infos = []
    for _ in range(n_t):
        name, off = rstr(off)
        nd = struct.unpack_from("<I", data, off)[0]
        ne = struct.unpack_from("<%dQ" % nd, data, off + 4)
        t, o = struct.unpack_from("<IQ", data, off + 4 + 8 * nd)
        off += 4 + 8 * nd + 12
        infos.append((name, t, o))
    start = (off + align - 1) // align * align
    out = {}
    for i, (name, t, o) in enumerate(infos):
        end = infos[i + 1][2] if i + 1 < len(infos) else len(data) - start
        out[name] = (TYPES.get(t, str(t)), data[start + o:start + end])
    return out
