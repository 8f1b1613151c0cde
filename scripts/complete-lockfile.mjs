#!/usr/bin/env node
// npm leaves the other platforms' builds of @napi-rs/blake-hash out of package-lock.json when
// the registry it talks to does not serve them, and `npm ci` then refuses the lock file. This
// adds their entries (optional, os/cpu-restricted, so npm skips them on other platforms and never
// downloads them). Run it after any `npm install` that rewrites package-lock.json.
import { readFileSync, writeFileSync } from 'node:fs';

const PLATFORMS = {
  'android-arm64': ['android', 'arm64'],
  'darwin-arm64': ['darwin', 'arm64'],
  'darwin-x64': ['darwin', 'x64'],
  'freebsd-x64': ['freebsd', 'x64'],
  'linux-arm-gnueabihf': ['linux', 'arm'],
  'linux-arm64-gnu': ['linux', 'arm64'],
  'linux-arm64-musl': ['linux', 'arm64'],
  'linux-ppc64-gnu': ['linux', 'ppc64'],
  'linux-s390x-gnu': ['linux', 's390x'],
  'win32-arm64-msvc': ['win32', 'arm64'],
  'win32-ia32-msvc': ['win32', 'ia32'],
  'win32-x64-msvc': ['win32', 'x64'],
};
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const version = lock.packages['node_modules/@napi-rs/blake-hash'].version;
for (const [name, [os, cpu]] of Object.entries(PLATFORMS)) {
  const key = `node_modules/@napi-rs/blake-hash-${name}`;
  lock.packages[key] ??= { version, license: 'MIT', optional: true, os: [os], cpu: [cpu], engines: { node: '>= 10' } };
}
const keys = Object.keys(lock.packages).sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0));
lock.packages = Object.fromEntries(keys.map((k) => [k, lock.packages[k]]));
writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
