import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { EnvironmentError, InputError } from '../errors.js';
import { loadAk, type AkSource, type LoadedAk, type VendorAkSource } from '../tpm/ak-source.js';
import type { Tpm } from '../tpm/client.js';
import { CLOUDS, CLOUD_KEY_KINDS } from '../tpm/cloud-ak.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { decodeBase64Strict, encodeBase64 } from '../util/base64.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { describeSchemaError } from '../util/schema-error.js';
import { aicertHome } from '../util/state-dir.js';
import { parseJsonObject } from '../util/strict-json.js';

/**
 * Which attestation key runs use: `aicert ak use --cloud` records a vendor AK here,
 *   $AICERT_HOME/ak/selected.json
 * and `aicert ak use --default` removes the file (aicert's own AK again). The vendor AK's
 * certificate is stored like an enrolled one (ak-store.ts), under the AK's Name.
 */
const SELECTION_FILE = 'selected.json';
const MAX_SELECTION_BYTES = 16 * 1024;

const selectionSchema = z.strictObject({
  version: z.literal(1),
  cloud: z.enum(CLOUDS),
  kind: z.enum(CLOUD_KEY_KINDS),
  /** The AK's Name when it was selected: a run on another TPM (or a changed key) is refused. */
  name: z.string().regex(/^[0-9a-f]{4,132}$/),
  source: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('persistent'), handle: z.number().int().min(0x81000000).max(0x81ffffff) }),
    z.strictObject({
      kind: z.literal('template'),
      hierarchy: z.number().int().min(0).max(0xffffffff),
      template: z.string().max(4096),
    }),
  ]),
});
type SelectionFile = z.infer<typeof selectionSchema>;

export interface AkSelection {
  cloud: SelectionFile['cloud'];
  kind: SelectionFile['kind'];
  name: Buffer;
  source: VendorAkSource;
}

export function akSelectionPath(): string {
  return join(aicertHome(), 'ak', SELECTION_FILE);
}

export async function storeAkSelection(selection: AkSelection): Promise<string> {
  const path = akSelectionPath();
  const source =
    selection.source.kind === 'template'
      ? { ...selection.source, template: encodeBase64(selection.source.template) }
      : selection.source;
  const file: SelectionFile = {
    version: 1,
    cloud: selection.cloud,
    kind: selection.kind,
    name: selection.name.toString('hex'),
    source,
  };
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}

/** Back to aicert's own AK. */
export async function clearAkSelection(): Promise<void> {
  await rm(akSelectionPath(), { force: true });
}

/** The recorded vendor AK, or undefined when runs use aicert's own AK. */
export async function loadAkSelection(): Promise<AkSelection | undefined> {
  const path = akSelectionPath();
  if (!existsSync(path)) return undefined;
  const invalid = (why: string) =>
    new InputError('ak.selection-invalid', `${path} is not an AK selection (${why}); run \`aicert ak use\` again`);
  const bytes = await readBoundedFile(path, MAX_SELECTION_BYTES, 'the AK selection', 'ak.selection-invalid');
  const parsed = selectionSchema.safeParse(parseJsonObject(bytes, (_, detail) => invalid(detail)));
  if (!parsed.success) throw invalid(describeSchemaError(parsed.error));
  const f = parsed.data;
  const source: AkSelection['source'] =
    f.source.kind === 'template'
      ? { ...f.source, template: decodeBase64Strict(f.source.template, 'the AK template') }
      : f.source;
  return { cloud: f.cloud, kind: f.kind, name: Buffer.from(f.name, 'hex'), source };
}

/**
 * The AK that runs on this TPM use: the selected vendor AK, checked to be the very key that was
 * selected (same Name), else aicert's own. The caller flushes `ak.handle` when `ak.transient`.
 */
export async function loadRunAk(tpm: Tpm): Promise<{ source: AkSource; ak: LoadedAk; selection?: AkSelection }> {
  const selection = await loadAkSelection();
  if (!selection) {
    const source: AkSource = { kind: 'aicert' };
    return { source, ak: await loadAk(tpm, source) };
  }
  const ak = await loadAk(tpm, selection.source).catch((err: Error) => {
    throw new EnvironmentError(
      'ak.selection-unavailable',
      `the AK selected by \`aicert ak use --cloud ${selection.cloud}\` cannot be loaded on this TPM (${err.message}); ` +
        'run `aicert ak use` again on this machine, or `aicert ak use --default`',
      { cause: err },
    );
  });
  if (!ak.name.equals(selection.name)) {
    if (ak.transient) await tpm.flushContext(ak.handle).catch(() => undefined);
    throw new EnvironmentError(
      'ak.selection-unavailable',
      `the ${selection.cloud} AK on this TPM (${ak.name.toString('hex')}) is not the one \`aicert ak use\` selected ` +
        `(${selection.name.toString('hex')}); run \`aicert ak use\` again, or \`aicert ak use --default\``,
    );
  }
  return { source: selection.source, ak, selection };
}
