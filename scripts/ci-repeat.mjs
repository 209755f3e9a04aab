// npm run test:repeat -- N: runs the integration and e2e stages N times in a row (after one setup and
// build) and prints a table of every test that failed at least once, with how often. A test that
// passes once is not proven; this is how flakiness shows before CI meets it.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { resolve } from 'node:path'

const rounds = Number(process.argv[2] ?? 3)
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: npm run test:repeat -- N   (N rounds, a whole number from 1)')
  process.exit(2)
}
mkdirSync('test-results', { recursive: true })
const vitestJson = resolve('test-results/repeat-vitest.json')
const playwrightJson = resolve('test-results/repeat-playwright.json')

const readJson = (path) => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    return null
  }
}
function stage(argv, env = {}) {
  const started = Date.now()
  const result = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } })
  return { ok: result.status === 0, seconds: (Date.now() - started) / 1000 }
}

/** test name → { runs, failures } */
const tally = new Map()
const count = (name, failed) => {
  const entry = tally.get(name) ?? { runs: 0, failures: 0 }
  entry.runs++
  if (failed) entry.failures++
  tally.set(name, entry)
}
function* playwrightTests(suite, file = suite.file) {
  for (const spec of suite.specs ?? []) for (const test of spec.tests) yield { name: `${file} › ${spec.title}`, status: test.status }
  for (const child of suite.suites ?? []) yield* playwrightTests(child, child.file ?? file)
}

if (!stage(['npm', 'run', 'build', '--silent']).ok) process.exit(1)
const times = []
for (let round = 1; round <= rounds; round++) {
  console.log(`\n=== round ${round} of ${rounds}`)
  rmSync(vitestJson, { force: true })
  rmSync(playwrightJson, { force: true })
  const integration = stage(['npx', 'vitest', 'run', '--project', 'integration', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`])
  const vitest = readJson(vitestJson)
  if (!vitest) count('integration stage (no results)', true)
  for (const file of vitest?.testResults ?? [])
    for (const test of file.assertionResults) count(`${file.name.replace(`${process.cwd()}/`, '')} › ${test.fullName}`, test.status !== 'passed')
  const e2e = stage(['npx', 'playwright', 'test', '-c', 'e2e/playwright.config.ts'], { BERTH_PW_JSON: playwrightJson })
  const playwright = readJson(playwrightJson)
  if (!playwright) count('e2e stage (no results)', true)
  for (const suite of playwright?.suites ?? []) for (const test of playwrightTests(suite)) count(`e2e/specs/${test.name}`, test.status !== 'expected')
  times.push(`round ${round}: integration ${integration.seconds.toFixed(0)} s, e2e ${e2e.seconds.toFixed(0)} s`)
}

const failing = [...tally].filter(([, t]) => t.failures > 0)
console.log(`\n${times.join('\n')}`)
console.log(`\n${tally.size} tests, ${rounds} rounds: ${failing.length === 0 ? 'none failed' : `${failing.length} failed at least once`}`)
if (failing.length) {
  console.log('\n| failed | test |\n| --- | --- |')
  for (const [name, t] of failing) console.log(`| ${t.failures} of ${t.runs} | ${name} |`)
}
process.exit(failing.length === 0 ? 0 : 1)
