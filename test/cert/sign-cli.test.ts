/**
 * `aicert sign` and `aicert verify-signature` as a user runs them: exit codes 0/1/2, the
 * reference vectors from their own directory, atomic signature files, and help that teaches.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REFERENCE, removeTree } from './oms-fixtures.js';
import { pem, threeLevelChain } from './pki.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function aicert(args: string[], cwd?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

let dir: string;
let model: string;
const keys = { priv: '', pub: '', leafKey: '', leafCert: '', intermediate: '', root: '' };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aicert-sign-cli-'));
  model = join(dir, 'model');
  await mkdir(model);
  await writeFile(join(model, 'weights.bin'), Buffer.alloc(5000, 1));
  await writeFile(join(model, 'config.json'), '{}');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  keys.priv = join(dir, 'key.pem');
  keys.pub = join(dir, 'key.pub.pem');
  await writeFile(keys.priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(keys.pub, publicKey.export({ type: 'spki', format: 'pem' }));
  const chain = await threeLevelChain('P-256');
  keys.leafKey = join(dir, 'leaf.key.pem');
  keys.leafCert = join(dir, 'leaf.pem');
  keys.intermediate = join(dir, 'intermediate.pem');
  keys.root = join(dir, 'root.pem');
  // SEC1 "EC PRIVATE KEY" PEM, as `openssl ecparam -genkey` writes it.
  await writeFile(keys.leafKey, chain.leaf.privateKey.export({ type: 'sec1', format: 'pem' }));
  await writeFile(keys.leafCert, pem(chain.leaf.certificate));
  await writeFile(keys.intermediate, pem(chain.intermediate.certificate));
  await writeFile(keys.root, pem(chain.root.certificate));
});

after(() => removeTree(dir));

test('the reference vectors verify from their directory, as the vectors README runs model_signing (exit 0)', async () => {
  const runs: Array<[string, string, string[]]> = [
    ['v1.0.0-elliptic-key/signme-1', 'v1.0.0-elliptic-key/model.sig', ['--key', 'keys/signing-key-pub.pem']],
    ...['v1.0.1', 'v1.1.0'].flatMap((version) => [
      [
        `${version}-elliptic-key`,
        `${version}-elliptic-key/model.sig`,
        ['--key', 'keys/signing-key-pub.pem', '--ignore-paths', `${version}-elliptic-key/ignore-me`],
      ] as [string, string, string[]],
      [
        `${version}-certificate`,
        `${version}-certificate/model.sig`,
        ['--certificate-chain', 'keys/ca-cert.pem', '--ignore-paths', `${version}-certificate/ignore-me`],
      ] as [string, string, string[]],
    ]),
  ];
  for (const [modelPath, signature, trust] of runs) {
    const result = await aicert(['verify-signature', modelPath, '--signature', signature, ...trust], REFERENCE);
    assert.equal(result.status, 0, `${modelPath}: ${result.stderr}`);
    assert.match(result.stdout, /^verified .* signed by .* root sha256:[0-9a-f]{64}\n$/);
  }
});

test('sign then verify-signature, key method: default model.sig inside the model, left out of the manifest', async () => {
  const signed = await aicert(['sign', model, '--key', keys.priv]);
  assert.equal(signed.status, 0, signed.stderr);
  assert.match(signed.stdout, /^signed .*model \(2 files, root sha256:[0-9a-f]{64}\) -> .*model\/model.sig\n$/);
  assert.deepEqual((await readdir(model)).sort(), ['config.json', 'model.sig', 'weights.bin']);
  const verified = await aicert(['verify-signature', model, '--key', keys.pub]);
  assert.equal(verified.status, 0, verified.stderr);
  assert.match(verified.stdout, /2 files match/);
  // The root digest signed is the one `aicert measure` prints for the same files.
  const measured = await aicert(['measure', model, '--ignore', join(model, 'model.sig'), '--json']);
  assert.equal(JSON.parse(measured.stdout)[0].rootDigest, /root sha256:([0-9a-f]{64})/.exec(signed.stdout)![1]);
});

test('certificate method: sign with leaf + intermediate, verify against the root CA only', async () => {
  const signature = join(dir, 'cert-model.sig');
  // model.sig (from the key-method test) is left out by --ignore-paths; the bundle records it, so
  // verification needs no --ignore-paths.
  const signed = await aicert([
    'sign',
    model,
    '--key',
    keys.leafKey,
    '--signing-certificate',
    keys.leafCert,
    '--certificate-chain',
    keys.intermediate,
    '--signature',
    signature,
    '--ignore-paths',
    join(model, 'model.sig'),
  ]);
  assert.equal(signed.status, 0, signed.stderr);
  const ok = await aicert(['verify-signature', model, '--signature', signature, '--certificate-chain', keys.root]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /signed by the certificate "CN=test signer"/);
  // Trusting an unrelated CA, or giving a key for a certificate bundle: not verified.
  const wrongCa = await aicert([
    'verify-signature',
    model,
    '--signature',
    signature,
    '--certificate-chain',
    join(REFERENCE, 'keys/ca-cert.pem'),
  ]);
  assert.equal(wrongCa.status, 1);
  assert.match(wrongCa.stderr, /\[x509\.untrusted\]/);
  const wrongKind = await aicert(['verify-signature', model, '--signature', signature, '--key', keys.pub]);
  assert.equal(wrongKind.status, 1);
  assert.match(wrongKind.stderr, /\[oms\.method-mismatch\]/);
});

test('a tampered model, signature or payload exits 1 and names the reason', async () => {
  const sig = join(model, 'model.sig');
  assert.equal((await aicert(['sign', model, '--key', keys.priv])).status, 0);
  await writeFile(join(model, 'config.json'), '{"tampered": true}');
  const changed = await aicert(['verify-signature', model, '--key', keys.pub]);
  assert.equal(changed.status, 1);
  assert.match(changed.stderr, /digest differs: "config.json" \[oms\.model-mismatch\]/);
  await writeFile(join(model, 'config.json'), '{}');
  const bundle = JSON.parse(await readFile(sig, 'utf8'));
  const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
  payload[payload.length - 3]! ^= 1;
  await writeFile(
    sig,
    JSON.stringify({ ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: payload.toString('base64') } }),
  );
  const forged = await aicert(['verify-signature', model, '--key', keys.pub]);
  assert.equal(forged.status, 1);
  assert.match(forged.stderr, /\[oms\.signature\]/);
});

test('unusable input exits 2: no trust given, both given, missing files, not a bundle, encrypted key', async () => {
  const sig = join(dir, 'garbage.sig');
  await writeFile(sig, 'not json');
  const encrypted = join(dir, 'encrypted.pem');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFile(
    encrypted,
    privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }),
  );
  const cases: Array<[string[], RegExp]> = [
    [['verify-signature', model], /exactly one of --key/],
    [['verify-signature', model, '--key', keys.pub, '--certificate-chain', keys.root], /exactly one of --key/],
    [['verify-signature', model, '--key', keys.pub, '--signature', join(dir, 'absent.sig')], /no such file/],
    [['verify-signature', model, '--key', keys.pub, '--signature', sig], /\[oms\.bundle\.not-json\]/],
    [
      [
        'verify-signature',
        join(dir, 'no-model'),
        '--key',
        keys.pub,
        '--signature',
        join(REFERENCE, 'v1.1.0-elliptic-key/model.sig'),
      ],
      /does not exist/,
    ],
    [['sign', model, '--key', encrypted, '--signature', join(dir, 'x.sig')], /is encrypted/],
    [['sign', model], /required option '--key/],
    [
      ['sign', model, '--key', keys.priv, '--ignore-paths', '/etc/passwd', '--signature', join(dir, 'x.sig')],
      /not inside the model/,
    ],
  ];
  for (const [args, message] of cases) {
    const result = await aicert(args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
  }
  assert.ok(!(await readdir(dir)).includes('x.sig'), 'no signature written on failure');
});

test('the signature is written atomically: a failed sign leaves the old file whole and no temp files', async () => {
  const sig = join(dir, 'atomic.sig');
  assert.equal((await aicert(['sign', model, '--key', keys.priv, '--signature', sig])).status, 0);
  const before = await readFile(sig);
  await writeFile(join(model, 'link-target'), 'x');
  await symlink('link-target', join(model, 'a-link'));
  const failed = await aicert(['sign', model, '--key', keys.priv, '--signature', sig]);
  await rm(join(model, 'a-link'));
  await rm(join(model, 'link-target'));
  assert.equal(failed.status, 2);
  assert.match(failed.stderr, /symbolic link/);
  assert.deepEqual(await readFile(sig), before);
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.includes('atomic')),
    ['atomic.sig'],
  );
});

test('--help teaches: methods, defaults, exit codes and examples', async () => {
  const sign = await aicert(['sign', '--help']);
  assert.equal(sign.status, 0);
  for (const text of [
    '--key',
    '--signing-certificate',
    '<model>/model.sig',
    'Exit status',
    'Examples',
    'P-384 SHA-384',
  ]) {
    assert.ok(sign.stdout.includes(text), `sign --help mentions ${text}`);
  }
  const verify = await aicert(['verify-signature', '--help']);
  assert.equal(verify.status, 0);
  for (const text of [
    '--certificate-chain',
    '--ignore-paths',
    'notBefore',
    '1 not verified',
    '2 unusable input',
    'Examples',
  ]) {
    assert.ok(verify.stdout.includes(text), `verify-signature --help mentions ${text}`);
  }
});
