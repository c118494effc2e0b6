// ort_run.js — runs ONNX Runtime (onnxruntime-node) on one model with inputs given as raw
// files, for test_onnx_torch (models exported at test time, so nothing is recorded).
//
//   node tests/unit/onnx/ort_run.js <model.onnx> <inputs manifest> <out prefix> [noopt]
//
// The inputs manifest (written by torch_export.py) has one line per graph input:
//   "<name> <float32|int64> <rank> <d0> ... <file>"   (file relative to the manifest)
// Writes <out prefix>.outputs with one line per output, "<name> float32 <rank> <dims...>
// <file>", and the raw little-endian values beside it. Graph optimizations are on (ORT's
// default), one thread; "noopt" turns them off, so ORT runs the graph node by node as written
// (a QDQ model's DequantizeLinear -> float op -> QuantizeLinear, not its fused int8 kernels).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '../../../node_modules/onnxruntime-node'));

async function main() {
  const [modelPath, manifest, prefix, opt] = process.argv.slice(2);
  const dir = path.dirname(manifest);
  const feeds = {};
  for (const line of fs.readFileSync(manifest, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const f = line.trim().split(/\s+/);
    const [name, dtype, rank] = [f[0], f[1], Number(f[2])];
    const dims = f.slice(3, 3 + rank).map(Number);
    const buf = fs.readFileSync(path.join(dir, f[3 + rank]));
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const data = dtype === 'int64' ? new BigInt64Array(ab) : new Float32Array(ab);
    feeds[name] = new ort.Tensor(dtype, data, dims);
  }
  const sess = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1, graphOptimizationLevel: opt === 'noopt' ? 'disabled' : 'all',
  });
  const res = await sess.run(feeds);
  const lines = [];
  sess.outputNames.forEach((name, k) => {
    const t = res[name];
    if (t.type !== 'float32') throw new Error(`output ${name} is ${t.type}, expected float32`);
    const file = `${path.basename(prefix)}.out${k}.bin`;
    fs.writeFileSync(path.join(path.dirname(prefix), file), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    lines.push(`${name} float32 ${t.dims.length} ${t.dims.join(' ')} ${file}`);
  });
  fs.writeFileSync(`${prefix}.outputs`, lines.join('\n') + '\n');
}
main().catch((e) => { console.error(e); process.exit(1); });
