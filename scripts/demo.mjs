#!/usr/bin/env node
// `npm run demo`: installs what is missing, builds, then runs the demo (examples/demo.ts).
import { spawnSync } from 'node:child_process';
import { ensureDependencies } from './ensure-deps.mjs';

ensureDependencies('demo');
const build = spawnSync('npx', ['tsc', '-p', '.'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 2);
const demo = spawnSync(process.execPath, ['dist/examples/demo.js', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(demo.status ?? 1);
