import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckedResponse } from '../../src/serve/checked-response.js';

const bytes = Buffer.from('{"class":3}');
const make = () => new CheckedResponse(bytes, { status: 200, headers: { 'content-type': 'application/json' } });

test('CheckedResponse reads as a Response: status, headers, json once, then unusable', async () => {
  const r = make();
  assert.ok(r instanceof Response);
  assert.equal(r.status, 200);
  assert.equal(r.ok, true);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.bodyUsed, false);
  assert.deepEqual(await r.json(), { class: 3 });
  assert.equal(r.bodyUsed, true);
  await assert.rejects(r.text(), TypeError);
  await assert.rejects(r.arrayBuffer(), TypeError);
});

test('CheckedResponse: the body stream, blob and clone give the same bytes; a null body stays null', async () => {
  const streamed = make();
  const chunks: Uint8Array[] = [];
  for await (const chunk of streamed.body!) chunks.push(chunk);
  assert.deepEqual(Buffer.concat(chunks), bytes);
  assert.equal(streamed.bodyUsed, true);
  await assert.rejects(streamed.text(), TypeError);

  assert.equal(await (await make().blob()).text(), bytes.toString());
  assert.deepEqual(Buffer.from(await make().arrayBuffer()), bytes);
  const original = make();
  assert.equal(await original.clone().text(), bytes.toString());
  assert.equal(await original.text(), bytes.toString());

  const empty = new CheckedResponse(null, { status: 204 });
  assert.equal(empty.body, null);
  assert.equal(await empty.text(), '');
});
