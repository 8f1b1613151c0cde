// Globals the verification core expects from Node, for the browser bundle (scripts/build-web.mjs):
// Buffer (the `buffer` package, taught the base64url encoding Node has and it lacks) and process.
import { Buffer } from 'buffer';

const bufferToString = Buffer.prototype.toString;
Buffer.prototype.toString = function (encoding, start, end) {
  if (encoding !== 'base64url') return bufferToString.call(this, encoding, start, end);
  return bufferToString.call(this, 'base64', start, end).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
const from = Buffer.from;
Buffer.from = (value, encoding, length) => {
  if (typeof value === 'string' && encoding === 'base64url')
    return from.call(Buffer, value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return from.call(Buffer, value, encoding, length);
};

globalThis.Buffer ??= Buffer;
globalThis.process ??= { env: {}, platform: 'browser', versions: {} };
