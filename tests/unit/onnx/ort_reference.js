// ort_reference.js — runs ONNX Runtime (onnxruntime-node) on deterministic inputs and writes
// the reference outputs that test_onnx_models.c compares inferd's engine against.
//
//   node tests/unit/onnx/ort_reference.js <model.onnx> <out.txt> [count=16] [scale=0.5] [dims]
//
// dims (e.g. 1,3,48,192) replaces symbolic input dims (conv models); with it, each output line
// carries a sampling stride after numel: "<case> <output> <numel> <stride> v0 v_stride ..."
// with at most 4096 values, so big outputs stay small on disk.
//
// Inputs: every graph input (FP32, fixed dims) is filled from a 32-bit LCG,
//   s = s * 1664525 + 1013904223 (mod 2^32), x = ((s >>> 8) / 2^24 * 2 - 1) * scale,
// seeded with 12345 + case index; the C test generates exactly the same floats.
// Output file: a header line "cases <n> scale <s> outputs <k>", then per case and output a
// line "<case> <output> <numel> v0 v1 ...".
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '../../../node_modules/onnxruntime-node'));

function fill(n, seed, scale) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = Math.fround((((s >>> 8) / 16777216) * 2 - 1) * scale);
  }
  return a;
}

async function main() {
  const [modelPath, outPath, countArg, scaleArg, dimsArg] = process.argv.slice(2);
  const fixedDims = dimsArg ? dimsArg.split(',').map(Number) : null;
  const count = Number(countArg || 16), scale = Number(scaleArg || 0.5);
  const sess = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  const lines = [`cases ${count} scale ${scale} outputs ${sess.outputNames.length}`];
  for (let c = 0; c < count; c++) {
    const feeds = {};
    let seed = 12345 + c;
    for (const name of sess.inputNames) {
      const meta = sess.inputMetadata ? sess.inputMetadata.find((m) => m.name === name) : null;
      const dims = fixedDims || (meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : null);
      if (!dims) throw new Error(`cannot read dims of input ${name}`);
      const n = dims.reduce((a, b) => a * b, 1);
      feeds[name] = new ort.Tensor('float32', fill(n, seed, scale), dims);
      seed += 1000;
    }
    const res = await sess.run(feeds);
    sess.outputNames.forEach((name, k) => {
      const d = res[name].data;
      if (fixedDims) {
        const stride = Math.max(1, Math.ceil(d.length / 4096));
        const vals = [];
        for (let i = 0; i < d.length; i += stride) vals.push(d[i].toPrecision(9));
        lines.push(`${c} ${k} ${d.length} ${stride} ` + vals.join(' '));
      } else {
        lines.push(`${c} ${k} ${d.length} ` + Array.from(d, (v) => v.toPrecision(9)).join(' '));
      }
    });
  }
  fs.writeFileSync(outPath, lines.join('\n') + '\n');
  console.log(`wrote ${outPath}: ${count} cases`);
}
main().catch((e) => { console.error(e); process.exit(1); });
