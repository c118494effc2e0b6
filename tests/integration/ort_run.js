// ort_run.js — runs a model in ONNX Runtime (onnxruntime-node) for the Python tests.
//
//   node tests/integration/ort_run.js model.onnx < inputs.json > outputs.json
//
// inputs.json: {"NAME": {"dims": [..], "data": [floats]}, ...}; outputs.json: the same shape
// for every output, or {"error": "..."} with exit status 1 when ORT refuses the model.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '../../node_modules/onnxruntime-node'));

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const inputs = JSON.parse(Buffer.concat(chunks).toString() || '{}');
  const sess = await ort.InferenceSession.create(process.argv[2], { intraOpNumThreads: 1 });
  const feeds = {};
  for (const [name, t] of Object.entries(inputs)) feeds[name] = new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
  const res = await sess.run(feeds);
  const out = {};
  for (const name of sess.outputNames) out[name] = { dims: res[name].dims, data: Array.from(res[name].data) };
  process.stdout.write(JSON.stringify(out));
}
main().catch((e) => { process.stdout.write(JSON.stringify({ error: String(e.message || e) })); process.exit(1); });
