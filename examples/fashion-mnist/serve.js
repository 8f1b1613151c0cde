#!/usr/bin/env node
// The Fashion-MNIST example's inference server, for `aicert serve` (docs/serving.md): loads
// DIR/model.safetensors (the MLP 784 → 64 ReLU → 10 of mlp.ts, F32) and answers
//   POST /predict  {"pixels": [784 numbers 0-255]}  →  {"class": 3, "label": "Dress", "probabilities": [...]}
// Plain Node, no dependency: a client can read all of what the attested session runs.
// Usage: node examples/fashion-mnist/serve.js MODEL_DIR [PORT]   (PORT defaults to $PORT, then 8080)
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const LABELS = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
const MAX_BODY = 64 * 1024;

function loadSafetensors(path) {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const data = bytes.subarray(8 + headerLength);
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw new Error(`${name}: dtype ${t.dtype}, expected F32`);
    const [begin, end] = t.data_offsets;
    const copy = Buffer.from(data.subarray(begin, end)); // aligned copy
    tensors[name] = { shape: t.shape, values: new Float32Array(copy.buffer, copy.byteOffset, (end - begin) / 4) };
  }
  return tensors;
}

function dense(input, kernel, bias, relu) {
  const [inputs, units] = kernel.shape;
  const out = new Float32Array(units);
  for (let j = 0; j < units; j++) {
    let sum = bias.values[j];
    for (let i = 0; i < inputs; i++) sum += input[i] * kernel.values[i * units + j];
    out[j] = relu ? Math.max(0, sum) : sum;
  }
  return out;
}

function predict(w, pixels) {
  const x = Float32Array.from(pixels, (p) => p / 255);
  const logits = dense(
    dense(x, w['dense1.kernel'], w['dense1.bias'], true),
    w['dense2.kernel'],
    w['dense2.bias'],
    false,
  );
  const max = Math.max(...logits);
  const exp = Array.from(logits, (l) => Math.exp(l - max));
  const total = exp.reduce((a, b) => a + b, 0);
  const probabilities = exp.map((e) => e / total);
  const best = probabilities.indexOf(Math.max(...probabilities));
  return { class: best, label: LABELS[best], probabilities };
}

const [dir, portArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node examples/fashion-mnist/serve.js MODEL_DIR [PORT]');
  process.exit(2);
}
const weights = loadSafetensors(join(dir, 'model.safetensors'));
const inputs = weights['dense1.kernel']?.shape[0];
const port = Number(portArg ?? process.env.PORT ?? 8080);

createServer((req, res) => {
  const answer = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'POST' || req.url !== '/predict') return answer(404, { error: 'POST /predict {"pixels": [...]}' });
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    let pixels;
    try {
      pixels = JSON.parse(Buffer.concat(chunks).toString('utf8')).pixels;
    } catch {
      return answer(400, { error: 'the body is not JSON' });
    }
    if (
      !Array.isArray(pixels) ||
      pixels.length !== inputs ||
      !pixels.every((p) => typeof p === 'number' && p >= 0 && p <= 255)
    )
      return answer(400, { error: `pixels must be ${inputs} numbers in 0-255` });
    answer(200, predict(weights, pixels));
  });
}).listen(port, '127.0.0.1', () => console.error(`fashion-mnist: serving ${dir} on http://127.0.0.1:${port}`));
