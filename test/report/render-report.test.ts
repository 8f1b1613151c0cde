import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InputError } from '../../src/errors.js';
import { eventRuns } from '../../src/report/chart-event-strip.js';
import { collectReport } from '../../src/report/collect-report.js';
import { escapeHtml, html } from '../../src/report/html.js';
import { REPORT_CSP, renderReport } from '../../src/report/render-report.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { assertProperty } from '../util/property.js';
import { failedModel, sampleAudit, sampleModel } from './report-fixtures.js';

/** Every element the renderer writes; anything else in a page came from input. */
const ELEMENTS = new Set(
  (
    'html head meta title style body header h1 h2 h3 h4 p code main section strong span em table thead tbody tr th ' +
    'td dl div dt dd details summary pre figure figcaption svg g line text rect circle footer'
  ).split(' '),
);
const HOSTILE = `<script>alert(1)</script>"><img src=x onerror=alert(2)>' &amp; \u001b[31m\u202eevil\u0000\n.txt`;

/** The page's markup as [tag, attributes] pairs. */
function tags(page: string): Array<[string, string]> {
  return [...page.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]);
}

/** The checks an injected page would fail: unknown elements, event handlers, anything that loads. */
function assertNoInjection(page: string): void {
  for (const [tag, attributes] of tags(page)) {
    assert.ok(ELEMENTS.has(tag), `unexpected element <${tag}>`);
    assert.doesNotMatch(attributes, /\son[a-z]+\s*=/i, `event handler on <${tag}>`);
    assert.doesNotMatch(attributes, /\s(src|href|action|formaction|srcset)\s*=/i, `a loading attribute on <${tag}>`);
  }
  assert.doesNotMatch(page, /<script|<img|<iframe|<link|<object|javascript:/i);
}

test('escapeHtml: markup, quotes and ampersands become text; control characters and bidi overrides are shown', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  assert.equal(escapeHtml('a\u001bb\u202ec\u0000d\ne'), 'a\\x1bb\\u{202e}c\\x00d\\ne');
  assert.equal(html`<td>${'<b>'}</td>`.text, '<td>&lt;b&gt;</td>');
  assert.equal(html`<td>${[html`<b>`, '<i>']}</td>`.text, '<td><b>&lt;i&gt;</td>');
});

test('hostile text in every certificate string reaches the page only as escaped text', () => {
  for (const model of [sampleModel(HOSTILE), failedModel('quote.end', HOSTILE, HOSTILE)]) {
    const page = renderReport(model);
    assertNoInjection(page);
    assert.ok(!page.includes(HOSTILE));
    assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;'));
    assert.ok(page.includes('\\x1b[31m\\u{202e}evil\\x00\\n.txt'));
    assert.doesNotMatch(page, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u202e]/);
  }
});

test('property: any text in file names, reasons and labels leaves the page structure unchanged', () => {
  const structure = (page: string) =>
    tags(page)
      .map(([t]) => t)
      .join(' ');
  const reference = structure(renderReport(sampleModel('x')));
  assertProperty(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
      const page = renderReport(sampleModel(text));
      assertNoInjection(page);
      assert.equal(structure(page), reference);
    }),
    { numRuns: 150 },
  );
});

test('the page is self-contained: a strict CSP, no scripts, nothing to load', () => {
  const page = renderReport(sampleModel());
  assert.equal(REPORT_CSP, "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  assert.ok(page.includes(`<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">`));
  // The only URL is the SVG namespace, which is a name, not a request.
  const urls = [...page.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
  assert.deepEqual([...new Set(urls)], ['http://www.w3.org/2000/svg']);
  assert.match(page, /@page \{ size: A4;/);
  assert.match(page, /break-inside: avoid/);
  assertNoInjection(page);
});

test('a verified run: every section, the verdict, inputs with digests and sizes, PCRs, timeline and audit charts', () => {
  const page = renderReport(sampleModel());
  for (const id of ['verdict', 'checks', 'training', 'platform', 'timeline', 'audit', 'endorsement'])
    assert.ok(page.includes(`<section id="${id}"`), `section ${id}`);
  assert.match(page, /<strong id="verdict-text">VERIFIED<\/strong>/);
  assert.ok(!page.includes('claimed, not verified'));
  assert.ok(page.includes(`<code class="digest">${'3'.repeat(64)}</code>`), 'the code input digest');
  assert.ok(page.includes('121 KiB (123,456 bytes)'), 'the input size');
  assert.ok(page.includes(`<code class="digest">${'d'.repeat(64)}</code>`), 'the dataset order root');
  assert.ok(page.includes('start quote') && page.includes('end quote'));
  assert.ok(page.includes('namespaces'));
  assert.ok(page.includes('<dt>measurement register</dt><dd>PCR 23</dd>'));
  assert.ok(page.includes('tolerance δ = 1.00e-4'), 'the replay chart has the tolerance line');
  assert.ok(page.includes('chance (0.5)'), 'the AUC chart');
  assert.ok(page.includes('median loss drop'), 'the members vs held-out histogram');
  assert.equal((page.match(/<svg /g) ?? []).length, 4, 'event strip, replay, AUC and drop charts');
  assert.ok(page.includes('PASSED') && page.includes('Audit verdict: <strong id="audit-verdict">PASSED'));
});

test('boot facts of the verified boot log are shown in the platform section; none without a verified log', () => {
  const page = renderReport(sampleModel('grubx64.efi'));
  const platform = page.slice(page.indexOf('<section id="platform"'), page.indexOf('<section id="timeline"'));
  assert.ok(platform.includes("<h3>Boot (the firmware's event log)</h3>"));
  assert.ok(platform.includes('<dt>Secure Boot</dt><dd><strong class="good">on</strong></dd>'));
  assert.ok(platform.includes(`<code class="digest">${'9'.repeat(64)}</code>`), 'the PK digest');
  assert.ok(
    platform.includes('\\EFI\\BOOT\\grubx64.efi') && platform.includes(`${'c'.repeat(64)}`),
    'a boot application',
  );
  assert.ok(platform.includes('/vmlinuz-grubx64.efi root=/dev/sda1 ro'), 'the kernel command line');
  assert.ok(platform.includes('<dt>separators in PCRs</dt><dd>0, 1, 2, 3, 4, 5, 6, 7</dd>'));
  assert.ok(platform.includes('<summary>2 more</summary>'), 'GRUB commands past the first 8 are folded');
  assert.ok(platform.includes('set root=9 grubx64.efi'), 'folded commands are still on the page');

  const model = sampleModel();
  const { boot: _boot, ...unverified } = model.run!;
  const carriedOnly = renderReport({ ...model, run: unverified });
  assert.ok(carriedOnly.includes('carries a boot event log, but it was not verified: no boot fact is shown'));
  assert.ok(!carriedOnly.includes('<dt>Secure Boot</dt>'));
  const none = renderReport({ ...model, run: { ...unverified, bootLogCarried: false } });
  assert.ok(none.includes('The certificate carries no boot event log'));
});

test('a failing certificate: NOT VERIFIED, the failing check named at the top, the run shown as claims', () => {
  const page = renderReport(
    failedModel('eventlog.replay', 'the 9 events replay to PCR 23 = 00…, the end quote shows 11…'),
  );
  assert.match(page, /<strong id="verdict-text">NOT VERIFIED<\/strong>/);
  assert.match(
    page,
    /Failed check: <code id="failed-check-id">eventlog\.replay<\/code> — <span class="failure-reason">the 9 events replay/,
  );
  assert.ok(
    page.indexOf('failed-check-id') < page.indexOf('<section id="checks"'),
    'the failure comes before the list',
  );
  assert.match(page, /<tr class="check failed" data-check="eventlog.replay">/);
  assert.equal((page.match(/claimed, not verified/g) ?? []).length, 3, 'training, platform and timeline are claims');
});

test('audit fields a report lacks are left out; power and inconclusive are shown when present', () => {
  const audit = sampleAudit('x') as unknown as Record<string, unknown>;
  const plain = renderReport({ ...sampleModel(), audit: audit as never });
  assert.ok(!plain.includes('power'));
  const withPower = {
    ...audit,
    verdict: 'inconclusive',
    memorization: {
      segments: 4,
      z: null,
      p: 0.2,
      alpha: 0.01,
      outcome: 'inconclusive',
      meanAuc: 0.52,
      power: [{ unusedFraction: 0.5, power: 0.4 }],
      requiredPower: 0.95,
    },
  };
  const page = renderReport({ ...sampleModel(), audit: withPower as never });
  assert.ok(page.includes('40.0 % against 50.0 % unused (a pass needs 95.0 %)'));
  assert.ok(page.includes('inconclusive: the test had too little power'));
  assert.ok(page.includes('Z = — (all tied)'));
});

test('a 10,000-event log is folded: a bounded number of rows, every event still on the page', () => {
  const started = performance.now();
  const page = renderReport(sampleModel('x', 9_992));
  const ms = performance.now() - started;
  const model = sampleModel('x', 9_992);
  assert.equal(model.run!.events.length, 10_000);
  assert.equal(
    (page.match(/<tr class="event /g) ?? []).length,
    13,
    'six events to the commitment, 5 of the checkpoints, exit, output',
  );
  assert.ok(page.includes('<summary>9,987 more checkpoint events (9–9,995)</summary>'));
  assert.equal((page.match(/ {2}checkpoint \d+: 120 bytes\n/g) ?? []).length, 9_987, 'the folded events as text');
  console.log(`rendered a 10,000-event page (${(page.length / 1e6).toFixed(2)} MB) in ${ms.toFixed(0)} ms`);
});

test('eventRuns groups consecutive events of one type', () => {
  assert.deepEqual(eventRuns(['a', 'b', 'b', 'c', 'b']), [
    { type: 'a', from: 0, to: 0 },
    { type: 'b', from: 1, to: 2 },
    { type: 'c', from: 3, to: 3 },
    { type: 'b', from: 4, to: 4 },
  ]);
});

test('collectReport: bytes that are no certificate give an UNUSABLE page with the bundle.schema reason', async () => {
  const bytes = Buffer.from(`{"mediaType": "${HOSTILE.replace(/[\u0000-\u001f"\\]/g, '')}"}`);
  const verification = await verifyCertificate(bytes, 'bad.aicert.json', {
    trust: NO_TRUST_ANCHORS,
    allowUntrustedAk: false,
  });
  const model = collectReport(bytes, 'bad.aicert.json', verification);
  assert.equal(model.run, undefined);
  const page = renderReport(model);
  assert.match(page, /<strong id="verdict-text">UNUSABLE<\/strong>/);
  assert.match(page, /<code id="failed-check-id">bundle\.schema<\/code>/);
  assert.ok(!page.includes('<section id="training"'));
  assertNoInjection(page);
});

test('collectReport refuses an audit report of another certificate', async () => {
  const bytes = Buffer.from('{}');
  const verification = await verifyCertificate(bytes, 'c.json', { trust: NO_TRUST_ANCHORS, allowUntrustedAk: false });
  assert.throws(
    () => collectReport(bytes, 'c.json', verification, sampleAudit('x')),
    (e) => e instanceof InputError && e.code === 'report.audit-mismatch',
  );
});

test('the renderer is pure: no Node API and no runtime import outside itself (the browser renders the same code)', async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const dir = new URL('../../../src/report/', import.meta.url);
  const allowedOutside = new Set(['../util/visible-text.js']);
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.ts') || name === 'collect-report.ts') continue;
    const source = await readFile(new URL(name, dir), 'utf8');
    for (const m of source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)) {
      const [, typeOnly, from] = m;
      if (typeOnly) continue;
      assert.ok(from!.startsWith('./') || allowedOutside.has(from!), `${name} imports ${from} at run time`);
    }
    assert.doesNotMatch(source, /\b(Buffer|process|require)\b[.(]/, `${name} uses a Node global`);
  }
});
