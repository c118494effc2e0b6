// onnx_vs_ort_ort.js — the ONNX Runtime side of bench/onnx_vs_ort: same model, inputs, batch
// and thread count as bench/onnx_bench.c, same output line format.
//   node bench/onnx_vs_ort_ort.js <model.onnx> <batch> <threads> [seconds=2] [dims=1,3,48,192]
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '../node_modules/onnxruntime-node'));

async function main() {
  const [model, batchArg, thrArg, secArg, dimsArg] = process.argv.slice(2);
  const fixed = dimsArg ? dimsArg.split(',').map(Number) : null;
  const batch = Number(batchArg), threads = Number(thrArg), secs = Number(secArg || 2);
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const feeds = {};
  sess.inputNames.forEach((name, i) => {
    const meta = sess.inputMetadata.find((m) => m.name === name);
    const dims = fixed || meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : batch));
    const n = dims.reduce((a, b) => a * b, 1);
    if (meta.type === 'int64' || meta.type === 'int32') { // token ids / masks: 1, as onnx_bench.c
      feeds[name] = meta.type === 'int64' ? new ort.Tensor('int64', new BigInt64Array(n).fill(1n), dims)
        : new ort.Tensor('int32', new Int32Array(n).fill(1), dims);
      return;
    }
    const a = new Float32Array(n);
    let s = (12345 + i * 1000) >>> 0;
    for (let k = 0; k < n; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      a[k] = (((s >>> 8) / 16777216) * 2 - 1) * 0.5;
    }
    feeds[name] = new ort.Tensor('float32', a, dims);
  });
  // warm-up and chunk sizes as in onnx_bench.c: at most 50 runs or secs/4 of warm-up,
  // chunks of runs near 0.1 s for slow models
  let res;
  let chunk = 50;
  const tw = process.hrtime.bigint();
  for (let w = 0; w < 50; w++) {
    res = await sess.run(feeds);
    const el = Number(process.hrtime.bigint() - tw) / 1e9;
    if (el > secs / 4) {
      chunk = Math.min(50, Math.floor(0.1 / (el / (w + 1))) + 1);
      break;
    }
  }
  let runs = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let t1;
  do {
    for (let k = 0; k < chunk; k++) res = await sess.run(feeds);
    runs += chunk;
    t1 = process.hrtime.bigint();
  } while (Number(t1 - t0) / 1e9 < secs);
  const us = Number(t1 - t0) / 1e3 / runs;
  const cu = process.cpuUsage(c0);
  const cpuUs = (cu.user + cu.system) / runs; // process CPU time per run, all threads
  const out = res[sess.outputNames[0]].data;
  let sum = 0;
  for (const v of out) sum += v;
  console.log(`ort batch=${batch} threads=${threads} runs=${runs} us_per_run=${us.toFixed(2)} ` +
              `samples_per_s=${(batch / (us * 1e-6)).toFixed(0)} checksum=${sum.toFixed(6)} cpu_per_run_us=${cpuUs.toFixed(2)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
