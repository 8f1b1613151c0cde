/**
 * `aicert sign` and `aicert verify-signature`: OpenSSF model-signing (OMS) v1.0 bundles, the
 * `model.sig` files of the reference `model_signing` tool. Logic lives in src/cert/oms/.
 */
import { type Command, Option } from 'commander';
import { InputError } from '../errors.js';
import { readCertificateFiles, readPrivateKeyFile, readPublicKeyFile } from '../pki/key-files.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { MAX_BUNDLE_BYTES } from '../cert/oms/bundle.js';
import { defaultSignaturePath, modelRelativeIgnorePaths } from '../cert/oms/paths.js';
import { signModel } from '../cert/oms/sign.js';
import { verifyModelSignature, type OmsTrust } from '../cert/oms/verify.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { parseByteCount } from './measure.js';
import { ProgressBar } from './progress.js';

interface SignFlags {
  key: string;
  signingCertificate?: string;
  certificateChain: string[];
  signature?: string;
  ignorePaths: string[];
  hash: 'sha256' | 'blake3';
  shardSize?: number;
  allowSymlinks?: boolean;
}

interface VerifyFlags {
  signature?: string;
  key?: string;
  certificateChain: string[];
  ignorePaths: string[];
}

const repeatable = (value: string, previous: string[]) => [...previous, value];

const IGNORE_PATHS_HELP =
  'leave out this file or directory, given relative to the current directory (e.g. my-model/cache) ' +
  'or absolute; repeatable. .git, .gitattributes, .github, .gitignore and the signature file are always left out';

export function registerSignCommands(program: Command): void {
  program
    .command('sign')
    .description('sign a model directory or file as an OpenSSF model-signing (OMS) v1.0 bundle (model.sig)')
    .argument('<model>', 'model directory or single model file')
    .requiredOption('--key <private.pem>', 'ECDSA P-256, P-384 or P-521 private key (PEM, unencrypted)')
    .option(
      '--signing-certificate <cert.pem>',
      'certificate for --key: selects the OMS "certificate" method (otherwise "key")',
    )
    .option(
      '--certificate-chain <ca.pem>',
      'CA certificates to ship after the signing certificate (intermediates first); repeatable',
      repeatable,
      [] as string[],
    )
    .option('--signature <path>', 'where to write the bundle (default: <model>/model.sig, or <model>.sig for a file)')
    .option('--ignore-paths <path>', IGNORE_PATHS_HELP, repeatable, [] as string[])
    .addOption(
      new Option('--hash <algorithm>', 'per-file digest; model_signing verifies only sha256 from its command line')
        .choices(['sha256', 'blake3'])
        .default('sha256'),
    )
    .option(
      '--shard-size <bytes>',
      'use the OMS "shards" method with this many bytes per shard (e.g. 1GB)',
      parseByteCount,
    )
    .option('--allow-symlinks', 'follow symbolic links inside the model instead of refusing them')
    .addHelpText(
      'after',
      `
The bundle is a Sigstore bundle v0.3 holding a DSSE envelope whose payload is an in-toto
Statement with predicate https://model_signing/signature/v1.0: every file's digest, and the
root digest (\`aicert measure\`'s) as subject. With --key alone the bundle names the public key
by its hint (SHA-256 of its PEM); verify with the public key. With --signing-certificate the
bundle carries the certificate chain; verify with the root CA. ECDSA signatures use the SHA-2
size of the curve (P-256 SHA-256, P-384 SHA-384, P-521 SHA-512). The file is written atomically.
The reference tool (model_signing >= 1.0) verifies these bundles.

Exit status: 0 signed, 2 unusable input (key, certificate, model, paths), 3 environment.

Examples:
  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out key.pem
  openssl pkey -in key.pem -pubout -out key.pub.pem
  aicert sign ./my-model --key key.pem
  aicert sign ./my-model --key leaf.key --signing-certificate leaf.pem --certificate-chain intermediate.pem
  aicert sign ./model.gguf --key key.pem --signature ./model.gguf.sig
`,
    )
    .action(signAction);

  program
    .command('verify-signature')
    .description('verify an OMS v1.0 model signature (model.sig) and that the model still matches it')
    .argument('<model>', 'model directory or single model file')
    .option('--signature <path>', 'the bundle (default: <model>/model.sig, or <model>.sig for a file)')
    .option('--key <public.pem>', "the signer's public key (for bundles made with a key)")
    .option(
      '--certificate-chain <ca.pem>',
      'trusted CA certificate(s) (for bundles made with a certificate); repeatable, files may hold several',
      repeatable,
      [] as string[],
    )
    .option('--ignore-paths <path>', IGNORE_PATHS_HELP, repeatable, [] as string[])
    .addHelpText(
      'after',
      `
Checks, in order: the bundle's structure; the signature, with --key (the bundle's key hint must
name it) or with the signing certificate after validating its chain up to a --certificate-chain
CA (dates at the certificate's notBefore, as model_signing does; CA flags, key usage, and the
leaf allowing digitalSignature or codeSigning); the signed in-toto statement; then it measures
the model again with the signed method, hash and ignore paths and compares every file and the
root digest. Files present but not signed fail verification. Bundles from model_signing before
v1.1.0 do not record the signer's ignore paths: pass them again with --ignore-paths.
Sigstore keyless bundles are recognised but not verified (use model_signing).

Exit status: 0 verified, 1 not verified (signature, key, chain or model mismatch),
2 unusable input (missing or malformed files, unsupported bundle), 3 environment.

Examples:
  aicert verify-signature ./my-model --key key.pub.pem
  aicert verify-signature ./my-model --signature my-model.sig --certificate-chain root-ca.pem
  aicert verify-signature old-model --key key.pub.pem --ignore-paths old-model/README.md
`,
    )
    .action(verifyAction);
}

async function signAction(model: string, flags: SignFlags): Promise<void> {
  if (flags.certificateChain.length > 0 && !flags.signingCertificate) {
    throw new InputError('oms.usage', '--certificate-chain needs --signing-certificate when signing');
  }
  const privateKey = await readPrivateKeyFile(flags.key);
  const certificateChain = flags.signingCertificate
    ? await readCertificateFiles([flags.signingCertificate, ...flags.certificateChain])
    : undefined;
  const signaturePath = flags.signature ?? (await defaultSignaturePath(model));
  const progress = new ProgressBar();
  let result: Awaited<ReturnType<typeof signModel>>;
  try {
    result = await signModel(
      model,
      { privateKey, ...(certificateChain && { certificateChain }) },
      {
        signaturePath,
        ignorePaths: await modelRelativeIgnorePaths(model, flags.ignorePaths),
        algorithm: flags.hash,
        ...(flags.shardSize !== undefined && { shardSize: flags.shardSize }),
        allowSymlinks: flags.allowSymlinks ?? false,
        onProgress: (done, total) => progress.update(model, done, total),
      },
    );
  } finally {
    progress.finish();
  }
  await writeFileAtomic(signaturePath, result.bundle);
  const { manifest } = result;
  process.stdout.write(
    `signed ${model} (${counted(manifest.entries.length, manifest.method)}, root sha256:${manifest.rootDigest}) -> ${signaturePath}\n`,
  );
}

async function verifyAction(model: string, flags: VerifyFlags): Promise<void> {
  const trust = await trustFrom(flags);
  const signaturePath = flags.signature ?? (await defaultSignaturePath(model));
  const bundle = await readBoundedFile(signaturePath, MAX_BUNDLE_BYTES, 'signature bundle');
  const progress = new ProgressBar();
  let check: Awaited<ReturnType<typeof verifyModelSignature>>;
  try {
    check = await verifyModelSignature(model, bundle, trust, {
      signaturePath,
      ignorePaths: await modelRelativeIgnorePaths(model, flags.ignorePaths),
      onProgress: (done, total) => progress.update(model, done, total),
    });
  } finally {
    progress.finish();
  }
  process.stdout.write(
    `verified ${model} against ${signaturePath}: signed by ${check.signer}; ` +
      `${counted(check.signed.resources.length, check.signed.serialization.method)} match, ` +
      `root sha256:${check.signed.rootDigest}\n`,
  );
}

/** "1 file", "3 shards". */
function counted(n: number, method: 'files' | 'shards'): string {
  const noun = method === 'shards' ? 'shard' : 'file';
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

async function trustFrom(flags: VerifyFlags): Promise<OmsTrust> {
  const chain = flags.certificateChain;
  if ((flags.key === undefined) === (chain.length === 0)) {
    throw new InputError(
      'oms.usage',
      'give exactly one of --key (key bundles) and --certificate-chain (certificate bundles)',
    );
  }
  return flags.key !== undefined
    ? { publicKey: await readPublicKeyFile(flags.key) }
    : { certificateAuthorities: await readCertificateFiles(chain) };
}
