"""tflite_model.py — writes TensorFlow Lite flatbuffers (schema v3, "TFL3") for the tests with
Debian's python3-flatbuffers: no TensorFlow. Field slots follow tensorflow/lite/schema/schema.fbs
(a table's field i is vtable slot i; a union takes two: its type, then its value).

    m = TFLite()
    x = m.tensor("x", [1, 8, 8, 3])
    w = m.tensor("w", [4, 3, 3, 3], data=np.ones((4, 3, 3, 3), np.float32))
    y = m.tensor("y", [1, 8, 8, 4])
    m.op("CONV_2D", [x, w, -1], [y], conv2d(padding="SAME", stride=1, act="RELU"))
    open("m.tflite", "wb").write(m.build([x], [y]))
"""
import flatbuffers
import numpy as np

OPS = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONCATENATION": 2, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4, "DEQUANTIZE": 6,
       "FULLY_CONNECTED": 9, "LOGISTIC": 14, "LSTM": 16, "MAX_POOL_2D": 17, "MUL": 18, "RELU": 19,
       "RELU6": 21, "RESHAPE": 22, "SOFTMAX": 25, "SVDF": 27, "TANH": 28, "PAD": 34, "TRANSPOSE": 39,
       "MEAN": 40, "SUB": 41, "DIV": 42, "SQUEEZE": 43, "HARD_SWISH": 117}
TYPES = {np.float32: 0, np.float16: 1, np.int32: 2, np.uint8: 3, np.int64: 4, np.int8: 9}
ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4}
PAD = {"SAME": 0, "VALID": 1}

# options: (union type, [(slot, kind, value)]) — kind: i8 u8 i32 f32 bool ivec
def conv2d(padding="SAME", stride=1, act="NONE", dilation=1):
    return (1, [(0, "i8", PAD[padding]), (1, "i32", stride), (2, "i32", stride), (3, "i8", ACT[act]),
                (4, "i32", dilation), (5, "i32", dilation)])


def depthwise(padding="SAME", stride=1, mult=1, act="NONE"):
    return (2, [(0, "i8", PAD[padding]), (1, "i32", stride), (2, "i32", stride), (3, "i32", mult),
                (4, "i8", ACT[act]), (5, "i32", 1), (6, "i32", 1)])


def pool(padding="VALID", stride=2, size=2, act="NONE"):
    return (5, [(0, "i8", PAD[padding]), (1, "i32", stride), (2, "i32", stride), (3, "i32", size),
                (4, "i32", size), (5, "i8", ACT[act])])


def fully_connected(act="NONE", keep_num_dims=False):
    return (8, [(0, "i8", ACT[act]), (2, "bool", keep_num_dims)])


def softmax(beta=1.0):
    return (9, [(0, "f32", beta)])


def concat(axis, act="NONE"):
    return (10, [(0, "i32", axis), (1, "i8", ACT[act])])


def add(act="NONE"):
    return (11, [(0, "i8", ACT[act])])


def reshape(shape):
    return (17, [(0, "ivec", shape)])


def mul(act="NONE"):
    return (21, [(0, "i8", ACT[act])])


def reducer(keep_dims):
    return (27, [(0, "bool", keep_dims)])


def sub(act="NONE"):
    return (28, [(0, "i8", ACT[act])])


class TFLite:
    def __init__(self):
        self.tensors = []   # (name, shape, type, buffer index)
        self.buffers = [b""]  # buffer 0: the empty buffer, by convention
        self.ops = []
        self.codes = []

    def tensor(self, name, shape, data=None, dtype=np.float32):
        buf = 0
        if data is not None:
            data = np.ascontiguousarray(np.asarray(data, dtype=dtype))
            assert list(data.shape) == list(shape), (name, data.shape, shape)
            self.buffers.append(data.tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append((name, list(shape), TYPES[dtype], buf))
        return len(self.tensors) - 1

    def op(self, name, inputs, outputs, options=None):
        code = OPS[name]
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), inputs, outputs, options))

    def build(self, inputs, outputs, version=3):
        b = flatbuffers.Builder(1 << 16)

        def ivec(vals):
            b.StartVector(4, len(vals), 4)
            for v in reversed(vals):
                b.PrependInt32(v)
            return b.EndVector()

        def tvec(offs):
            b.StartVector(4, len(offs), 4)
            for o in reversed(offs):
                b.PrependUOffsetTRelative(o)
            return b.EndVector()

        buffers = []
        for data in self.buffers:
            d = b.CreateNumpyVector(np.frombuffer(data, np.uint8)) if data else None
            b.StartObject(3)
            if d is not None:
                b.PrependUOffsetTRelativeSlot(0, d, 0)
            buffers.append(b.EndObject())
        tensors = []
        for name, shape, ty, buf in self.tensors:
            n, s = b.CreateString(name), ivec(shape)
            b.StartObject(10)
            b.PrependUOffsetTRelativeSlot(0, s, 0)
            b.PrependInt8Slot(1, ty, 0)
            b.PrependUint32Slot(2, buf, 0)
            b.PrependUOffsetTRelativeSlot(3, n, 0)
            tensors.append(b.EndObject())
        ops = []
        for code, ins, outs, options in self.ops:
            opt = None
            if options:
                vecs = {slot: ivec(v) for slot, kind, v in options[1] if kind == "ivec"}
                b.StartObject(8)
                for slot, kind, v in options[1]:
                    if kind == "i8":
                        b.PrependInt8Slot(slot, v, -128)  # always written
                    elif kind == "i32":
                        b.PrependInt32Slot(slot, v, -1 << 31)
                    elif kind == "f32":
                        b.PrependFloat32Slot(slot, v, float("nan"))
                    elif kind == "bool":
                        b.PrependBoolSlot(slot, v, not v)
                    elif kind == "ivec":
                        b.PrependUOffsetTRelativeSlot(slot, vecs[slot], 0)
                opt = b.EndObject()
            iv, ov = ivec(ins), ivec(outs)
            b.StartObject(9)
            b.PrependUint32Slot(0, code, 0xFFFFFFFF)
            b.PrependUOffsetTRelativeSlot(1, iv, 0)
            b.PrependUOffsetTRelativeSlot(2, ov, 0)
            if opt is not None:
                b.PrependUint8Slot(3, options[0], 0)
                b.PrependUOffsetTRelativeSlot(4, opt, 0)
            ops.append(b.EndObject())
        tv, iv, ov, opv, name = tvec(tensors), ivec(inputs), ivec(outputs), tvec(ops), b.CreateString("main")
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, tv, 0)
        b.PrependUOffsetTRelativeSlot(1, iv, 0)
        b.PrependUOffsetTRelativeSlot(2, ov, 0)
        b.PrependUOffsetTRelativeSlot(3, opv, 0)
        b.PrependUOffsetTRelativeSlot(4, name, 0)
        sg = b.EndObject()
        codes = []
        for code in self.codes:
            b.StartObject(4)
            b.PrependInt8Slot(0, min(code, 127), -128)
            b.PrependInt32Slot(2, 1, 0)
            b.PrependInt32Slot(3, code, -1)
            codes.append(b.EndObject())
        cv, sv, bv, desc = tvec(codes), tvec([sg]), tvec(buffers), b.CreateString("inferd test model")
        b.StartObject(8)
        b.PrependUint32Slot(0, version, 0)
        b.PrependUOffsetTRelativeSlot(1, cv, 0)
        b.PrependUOffsetTRelativeSlot(2, sv, 0)
        b.PrependUOffsetTRelativeSlot(3, desc, 0)
        b.PrependUOffsetTRelativeSlot(4, bv, 0)
        b.Finish(b.EndObject(), file_identifier=b"TFL3")
        return bytes(b.Output())


def run_armnn(path, inputs):
    """Runs the model with Arm NN's TfLite parser on its reference CPU backend. inputs: list
    of float32 arrays in the model's input order. Returns the outputs (float32 arrays)."""
    import pyarmnn as ann
    parser = ann.ITfLiteParser()
    net = parser.CreateNetworkFromBinaryFile(path)
    names_in = parser.GetSubgraphInputTensorNames(0)
    names_out = parser.GetSubgraphOutputTensorNames(0)
    rt = ann.IRuntime(ann.CreationOptions())
    opt, _ = ann.Optimize(net, [ann.BackendId("CpuRef")], rt.GetDeviceSpec(), ann.OptimizerOptions())
    nid, _ = rt.LoadNetwork(opt)
    bindings = [parser.GetNetworkInputBindingInfo(0, n) for n in names_in]
    in_t = ann.make_input_tensors(bindings, [np.ascontiguousarray(x, np.float32) for x in inputs])
    out_b = [parser.GetNetworkOutputBindingInfo(0, n) for n in names_out]
    out_t = ann.make_output_tensors(out_b)
    rt.EnqueueWorkload(nid, in_t, out_t)
    return ann.workload_tensors_to_ndarray(out_t)
