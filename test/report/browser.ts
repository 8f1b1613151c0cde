/**
 * Debian's Chromium driven by playwright-core, for the report's browser tests: nothing is
 * downloaded (the system browser, pointed at by path), no network (QUIC, background requests,
 * component updates and sync off), a fresh profile per launch.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium, or fails with the command that installs it (never skips). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (scripts/ensure-deps.mjs does, from scripts/debian-packages.txt)`,
    );
  }
  const profile = await mkdtemp(join(tmpdir(), 'aicert-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export interface LoadedPage {
  page: Page;
  /** Every request the page made, by URL. */
  requests: string[];
  /** Console errors, uncaught page errors and CSP violations. */
  errors: string[];
  /** Milliseconds from navigation to the load event. */
  loadMs: number;
}

/** Opens `path` from a file:// URL, recording requests and errors. */
export async function openFile(browser: Browser, path: string): Promise<LoadedPage> {
  const page = await browser.context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  const started = performance.now();
  await page.goto(pathToFileURL(path).href, { waitUntil: 'load' });
  const loadMs = performance.now() - started;
  return { page, requests, errors, loadMs };
}

/** Width and height of a PNG, from its IHDR chunk; throws unless the bytes start like a PNG. */
export function pngSize(png: Buffer): { width: number; height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!png.subarray(0, 8).equals(signature) || png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
