// npm test: every check and every test, then one closing line "berth: N passed, N failed".
// Stages: typecheck, lint, build, unit + integration (vitest, real QEMU), e2e (Playwright, real Chromium).
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { resolve } from 'node:path'

mkdirSync('test-results', { recursive: true })
const vitestJson = resolve('test-results/vitest.json')
const playwrightJson = resolve('test-results/playwright.json')
rmSync(vitestJson, { force: true })
rmSync(playwrightJson, { force: true })

let passed = 0
let failed = 0
const failures = []

function run(name, argv, env = {}) {
  console.log(`\n=== ${name}: ${argv.join(' ')}`)
  const started = Date.now()
  const result = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } })
  console.log(`=== ${name}: ${result.status === 0 ? 'ok' : `failed (exit ${result.status})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return result.status === 0
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    return null
  }
}

/** A stage without per-test results (typecheck, lint) counts as one check. */
function check(name, argv) {
  if (run(name, argv)) passed++
  else {
    failed++
    failures.push(name)
  }
}

/** A test stage counts its tests; a crash before any result counts as a failure, never as nothing. */
function tests(name, argv, resultFile, count, env = {}) {
  const ok = run(name, argv, env)
  const report = readJson(resultFile)
  const counted = report ? count(report) : { passed: 0, failed: 0 }
  passed += counted.passed
  failed += counted.failed
  if (!ok && counted.failed === 0) failed++
  if (!ok || counted.failed > 0) failures.push(name)
  if (counted.passed + counted.failed === 0) {
    failed++
    failures.push(`${name} ran no test`)
  }
}

check('typecheck', ['npx', 'vue-tsc', '-b'])
check('lint', ['npx', 'eslint', '--max-warnings=0', '.'])
check('build (renderer, Electron main and preload)', ['npm', 'run', 'build', '--silent'])
tests(
  'unit + integration',
  ['npx', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`],
  vitestJson,
  (r) => ({ passed: r.numPassedTests, failed: r.numFailedTests + (r.numTotalTestSuites > 0 ? 0 : 1) }),
)
tests(
  'e2e',
  ['npx', 'playwright', 'test', '-c', 'e2e/playwright.config.ts'],
  playwrightJson,
  (r) => ({ passed: r.stats.expected, failed: r.stats.unexpected + r.stats.flaky }),
  { BERTH_PW_JSON: playwrightJson },
)

if (failures.length) console.log(`\nFailed: ${failures.join(', ')}`)
console.log(`\nberth: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
