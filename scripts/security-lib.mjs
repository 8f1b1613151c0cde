// The runs behind `npm run fuzz` and `npm run test:security`, over the compiled test modules
// in dist/test/security: each returns its results, each print function prints its summary and
// returns whether everything passed.
const SECURITY = new URL('../dist/test/security/', import.meta.url);
const load = (name) => import(new URL(name, SECURITY).href);

const log = (line) => process.stderr.write(`${line}\n`);
const mib = (bytes) => (bytes / 2 ** 20).toFixed(2);

export async function runFuzz({ cases, seed, targets }) {
  const { FUZZ_TARGETS } = await load('fuzz-targets.js');
  const { fuzzTarget, sharedSeeds } = await load('fuzz-run.js');
  // A target with a known defect (a hang) runs only when named.
  const chosen = FUZZ_TARGETS.filter((t) => (targets?.length ? targets.includes(t.name) : !t.knownDefect));
  if (chosen.length === 0)
    throw new Error(
      `no fuzz target named ${targets.join(', ')}; targets: ${FUZZ_TARGETS.map((t) => t.name).join(', ')}`,
    );
  const seeds = await sharedSeeds();
  const results = [];
  try {
    for (const target of chosen) {
      log(`fuzz: ${target.name}: ${cases} cases (seed ${seed})…`);
      results.push(await fuzzTarget(target, await target.prepare(seeds), cases, seed));
    }
  } finally {
    await seeds.dispose();
  }
  return results;
}

export async function printFuzz(results, seed) {
  const { problemsOf } = await load('fuzz-run.js');
  console.log(`\nFuzzing (fast-check, seed ${seed}): cases per target, how many the parser refused, the slowest case`);
  console.log(
    `${'target'.padEnd(20)} ${'cases'.padStart(8)} ${'refused'.padStart(8)} ${'timeouts'.padStart(8)} ${'max ms'.padStart(8)} ${'huge inputs refused'.padStart(20)} ${'max growth MiB'.padStart(15)} ${'seconds'.padStart(8)}  result`,
  );
  const problems = [];
  for (const r of results) {
    const mine = problemsOf(r);
    problems.push(...mine);
    const hugeRefused = r.huge.filter((h) => h.outcome !== 'accepted' && !h.outcome.startsWith('crash')).length;
    const growth = Math.max(0, ...r.huge.map((h) => h.growth));
    console.log(
      `${r.target.padEnd(20)} ${String(r.cases).padStart(8)} ${String(r.refused).padStart(8)} ${String(r.timeouts).padStart(8)} ${r.maxMs.toFixed(1).padStart(8)} ${`${hugeRefused}/${r.huge.length}`.padStart(20)} ${mib(growth).padStart(15)} ${(r.durationMs / 1000).toFixed(1).padStart(8)}  ${mine.length === 0 ? 'ok' : 'FAILED'}`,
    );
  }
  const total = results.reduce((n, r) => n + r.cases, 0);
  const slowest = results.reduce((a, r) => (r.maxMs > a.maxMs ? r : a), { maxMs: 0, target: '-' });
  console.log(
    `fuzz: ${total} cases over ${results.length} targets, ${results.filter((r) => r.crash).length} crashes, ${results.reduce((n, r) => n + r.timeouts, 0)} refused at a deadline, slowest case ${slowest.maxMs.toFixed(1)} ms (${slowest.target})`,
  );
  for (const p of problems) console.log(`  PROBLEM ${p}`);
  return problems.length === 0;
}

export async function runCorpus() {
  const { makeSecurityFixtures } = await load('swtpm-fixtures.js');
  const { allTamperMutants } = await load('tamper-mutants.js');
  const { runTamperCorpus } = await load('tamper-run.js');
  log('tamper corpus: making genuine certificates on two swtpms…');
  const fx = await makeSecurityFixtures();
  try {
    const mutants = await allTamperMutants(fx);
    log(`tamper corpus: verifying ${mutants.length} mutants…`);
    return await runTamperCorpus(mutants, fx.anchors);
  } finally {
    await fx.stop();
  }
}

export function printCorpus(s, { list = false } = {}) {
  console.log('\nTamper corpus: mutants of genuine swtpm certificates, each through the verifier');
  if (list)
    for (const r of s.results)
      console.log(`  ${(r.check ?? r.outcome).padEnd(22)} ${r.mutant.family} / ${r.mutant.name}`);
  console.log(
    `mutants tried: ${s.tried}   rejected: ${s.rejected}   accepted-as-equivalent: ${s.equivalent}   false accepts: ${s.falseAccepts.length}   crashes: ${s.crashes.length}`,
  );
  console.log(
    `by family: ${Object.entries(s.byFamily)
      .map(([f, n]) => `${f} ${n}`)
      .join(', ')}`,
  );
  console.log('rejected at (first failed check):');
  for (const [check, n] of Object.entries(s.byCheck)) console.log(`  ${check.padEnd(22)} ${n}`);
  console.log('accepted as equivalent (decoded evidence proven identical):');
  const reasons = new Map();
  for (const r of s.results.filter((x) => x.outcome === 'equivalent'))
    reasons.set(r.detail, [...(reasons.get(r.detail) ?? []), r.mutant.name]);
  for (const [reason, names] of reasons)
    console.log(`  ${names.length} × ${reason}${names.length <= 3 ? ` (${names.join('; ')})` : ''}`);
  const bad = [...s.falseAccepts, ...s.crashes, ...s.unexpectedChecks, ...s.equivalentsRejected];
  for (const r of bad)
    console.log(
      `  PROBLEM ${r.outcome}${r.unexpectedCheck ? ' at an unexpected check' : ''}: ${r.mutant.family} / ${r.mutant.name}: ${r.check ?? ''} ${r.detail.split('\n')[0]}`,
    );
  return bad.length === 0;
}

export async function runFaults({ trials }) {
  const { FAULTS, makeFaultBench, SkipFault } = await load('faults.js');
  const bench = await makeFaultBench({ trials });
  const results = [];
  try {
    for (const fault of FAULTS) {
      log(`faults: ${fault.name}…`);
      try {
        const note = await fault.inject(bench);
        results.push({ name: fault.name, survived: true, note: note ?? '' });
      } catch (err) {
        const skipped = err instanceof SkipFault;
        results.push({
          name: fault.name,
          survived: false,
          skipped,
          note: skipped
            ? err.message
            : String(err?.stack ?? err)
                .split('\n')
                .slice(0, 4)
                .join(' | '),
        });
      }
    }
  } finally {
    await bench.stop();
  }
  return results;
}

export function printFaults(results) {
  console.log('\nFault injection: each fault injected into real runs on swtpm, and what must hold after it');
  for (const r of results)
    console.log(
      `  ${r.survived ? 'survived' : r.skipped ? 'SKIPPED ' : 'FAILED  '}  ${r.name}${r.note ? `\n            ${r.note}` : ''}`,
    );
  const survived = results.filter((r) => r.survived).length;
  console.log(
    `faults injected: ${results.filter((r) => !r.skipped).length}   survived: ${survived}   skipped: ${results.filter((r) => r.skipped).length}`,
  );
  return results.every((r) => r.survived || r.skipped);
}
