import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { parseYamlDocument } from '../util/yaml-document.js';

/**
 * aicert.yaml: everything `aicert run` takes, so a run is described by one reviewable file.
 * Paths are relative to the file; command-line flags override its values.
 *
 *   version: 1
 *   code: .
 *   data: [data/train.jsonl]
 *   baseModel: base/            # optional
 *   output: out/model
 *   certificate: out/model.aicert.json   # optional
 *   tpm: swtpm:unix:/tmp/aicert-swtpm/tpm.sock   # optional
 *   register: nv                 # optional: nv (default) or pcr23
 *   pcr: 23                      # optional, with register: pcr23
 *   command: [node, train.js, --out, out/model]
 *   bootLog: boot.log            # optional: the TCG boot event log to carry (default: the machine's)
 *   trainer:                     # optional: a protocol trainer (docs/trainer-protocol.md)
 *     checkpointEvery: 10
 *     dataset: data/train.jsonl
 */
const runConfigSchema = z.strictObject({
  version: z.literal(1),
  code: z.string().min(1).optional(),
  data: z.array(z.string().min(1)).max(1000).optional(),
  baseModel: z.string().min(1).optional(),
  output: z.string().min(1).optional(),
  certificate: z.string().min(1).optional(),
  tpm: z.string().min(1).optional(),
  /** nv (default) or pcr23 (the PCR fallback; `pcr` names another PCR). */
  register: z.enum(['nv', 'pcr23', 'pcr']).optional(),
  pcr: z.number().int().min(0).max(23).optional(),
  command: z.array(z.string()).min(1).max(10_000).optional(),
  certifyFailure: z.boolean().optional(),
  /** How the command is confined: namespaces (default) or none. */
  isolation: z.enum(['namespaces', 'none']).optional(),
  /** With namespaces: the command's network, none (default) or host (e.g. DDP between nodes). */
  network: z.enum(['none', 'host']).optional(),
  /** The firmware's TCG boot event log to carry (docs/boot-log.md); default: the machine's, when present. */
  bootLog: z.string().min(1).optional(),
  /** Protocol trainer settings (docs/trainer-protocol.md); its presence turns the protocol on. */
  trainer: z
    .strictObject({
      transcript: z.string().min(1).optional(),
      checkpointEvery: z.number().int().min(1).optional(),
      holdout: z.union([z.number().min(0).lt(1), z.literal('auto')]).optional(),
      dataset: z.string().min(1).optional(),
      challenge: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/)
        .optional(),
    })
    .optional(),
});
export type RunConfig = z.infer<typeof runConfigSchema>;

/** Reads a run configuration, resolving its paths against the file's directory. */
export async function loadRunConfig(path: string): Promise<RunConfig> {
  const text = (await readBoundedFile(path, 1024 * 1024, 'run configuration')).toString('utf8');
  const config = parseYamlDocument(text, runConfigSchema, `the run configuration ${path}`, 'run.config');
  const base = dirname(resolve(path));
  const at = (p: string | undefined) => (p === undefined ? undefined : resolve(base, p));
  return {
    ...config,
    code: at(config.code),
    data: config.data?.map((d) => resolve(base, d)),
    baseModel: at(config.baseModel),
    output: at(config.output),
    certificate: at(config.certificate),
    bootLog: at(config.bootLog),
    ...(config.trainer && {
      trainer: { ...config.trainer, transcript: at(config.trainer.transcript), dataset: at(config.trainer.dataset) },
    }),
  };
}

export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined)
    throw new UsageError('usage.missing-option', `${flag} is required (on the command line or in the --config file)`);
  return value;
}
