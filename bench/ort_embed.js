#!/usr/bin/env node
// bench/ort_embed.js: ONNX Runtime's side of bench/embed's side-by-side mode.
// Runs an ONNX export of bench/export_onnx.py (input_ids, attention_mask ->
// embedding) with onnxruntime-node, loaded from a path given on the command
// line (an npm install outside this repository).
//
//   node bench/ort_embed.js ORT MODEL.onnx LEVEL THREADS IDS.json rate SECONDS
//       texts/s of one batch of the texts in IDS.json for about SECONDS
//       (after one warm-up run; at least one timed run); prints the figure
//   node bench/ort_embed.js ORT MODEL.onnx LEVEL THREADS IDS.json check WANT.json
//       embeds the texts (one batch, padded, attention_mask 0 on padding) and
//       compares each embedding with WANT.json's: prints per text the cosine
//       and the max abs difference
//   node bench/ort_embed.js ORT MODEL.onnx LEVEL THREADS - optimized OUT.onnx
//       writes the graph as optimised at LEVEL (to see what was fused)
//
// ORT: the onnxruntime-node package directory, or a directory whose
// node_modules holds it.  LEVEL: ORT's graph optimisation level at session
// creation, disabled | basic | extended | all.  THREADS: intraOpNumThreads
// (interOpNumThreads = 1, sequential execution).  IDS.json: an array of
// token id arrays, special tokens included.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt(p) {
	const cands = [p, path.join(p, 'node_modules', 'onnxruntime-node')];
	for (const c of cands) {
		const pj = path.join(c, 'package.json');
		if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'onnxruntime-node')
			return require(path.resolve(c));
	}
	throw new Error(`no onnxruntime-node under ${p}`);
}

function batchOf(ort, texts) {
	const b = texts.length, t = Math.max(...texts.map((x) => x.length));
	const ids = new BigInt64Array(b * t), mask = new BigInt64Array(b * t);
	texts.forEach((x, i) => x.forEach((id, j) => {
		ids[i * t + j] = BigInt(id);
		mask[i * t + j] = 1n;
	}));
	return {
		input_ids: new ort.Tensor('int64', ids, [b, t]),
		attention_mask: new ort.Tensor('int64', mask, [b, t]),
	};
}

async function main() {
	const [ortDir, model, level, threads, idsFile, mode, arg] = process.argv.slice(2);
	if (!mode) {
		process.stderr.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 22).join('\n') + '\n');
		process.exit(2);
	}
	const ort = loadOrt(ortDir);
	const opts = {
		graphOptimizationLevel: level,
		intraOpNumThreads: Number(threads),
		interOpNumThreads: 1,
		executionMode: 'sequential',
	};
	if (mode === 'optimized')
		opts.optimizedModelFilePath = arg;
	const sess = await ort.InferenceSession.create(model, opts);
	if (mode === 'optimized')
		return;
	const texts = JSON.parse(fs.readFileSync(idsFile, 'utf8'));
	const feeds = batchOf(ort, texts);
	if (mode === 'check') {
		const want = JSON.parse(fs.readFileSync(arg, 'utf8'));
		const out = (await sess.run(feeds)).embedding;
		const h = out.dims[1];
		texts.forEach((x, i) => {
			const got = out.data.subarray(i * h, (i + 1) * h), w = want[i];
			let dot = 0, ng = 0, nw = 0, maxd = 0;
			for (let k = 0; k < h; k++) {
				dot += got[k] * w[k];
				ng += got[k] * got[k];
				nw += w[k] * w[k];
				maxd = Math.max(maxd, Math.abs(got[k] - w[k]));
			}
			console.log(`${x.length} ${(dot / Math.sqrt(ng * nw)).toFixed(9)} ${maxd.toExponential(2)}`);
		});
		return;
	}
	const secs = Number(arg);
	await sess.run(feeds);					// warm up
	const t0 = process.hrtime.bigint();
	let k = 0, el = 0;
	do {
		await sess.run(feeds);
		k++;
		el = Number(process.hrtime.bigint() - t0) / 1e9;
	} while (el < secs);
	console.log((k * texts.length / el).toFixed(2));
}

main().catch((e) => {
	console.error(e.message || e);
	process.exit(1);
});
