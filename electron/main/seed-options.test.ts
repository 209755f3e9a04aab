// The README's option table answers, for every option of the NixOS modules Berth follows, where it is
// in Berth and which real test proves it. This keeps the table whole and its proofs real.
import { describe, expect, it } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..', '..')
const options = readFileSync(join(root, 'e2e/fixtures/seed-options.txt'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() && !line.startsWith('#'))
  .map((line) => line.trim().replace(' ', ' › '))

interface Row { key: string; proof: string }

function optionTable(readme: string): Row[] {
  const section = readme.split('\n## Options of the NixOS modules\n')[1]?.split('\n## ')[0]
  if (!section) throw new Error('README.md has no "Options of the NixOS modules" section')
  return section
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| module ') && !line.startsWith('|---'))
    .map((line) => {
      const cells = line.split(' | ').map((cell) => cell.replace(/^\| |\s*\|$/g, '').trim())
      return { key: `${cells[0]} › ${(cells[1] ?? '').replace(/`/g, '')}`, proof: cells[4] ?? '' }
    })
}

/** The tests a proof names: `file` "a fragment of the test's title". */
function namedTests(proof: string): { file: string; title: string }[] {
  return [...proof.matchAll(/`([^`]+\.(?:test|spec)\.ts)` "([^"]+)"/g)].map(([, file, title]) => ({ file: file!, title: title! }))
}

describe("the README's option table (seed modules)", () => {
  const rows = optionTable(readFileSync(join(root, 'README.md'), 'utf8'))

  it('has one row for every option of the seed modules, and none for an option they do not have', () => {
    const keys = rows.map((row) => row.key)
    expect(options.filter((option) => !keys.includes(option))).toEqual([])
    expect(keys.filter((key) => !options.includes(key))).toEqual([])
    expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([])
  })

  it('each row names a test that exists, or says why the option does not apply', () => {
    const unproven = rows.filter((row) => !row.proof.startsWith('not applicable:') && namedTests(row.proof).length === 0)
    expect(unproven.filter((row) => !row.proof.startsWith('partial:')).map((row) => row.key)).toEqual([])
    for (const { file, title } of rows.flatMap((row) => namedTests(row.proof))) {
      expect(existsSync(join(root, file)), file).toBe(true)
      const titles = readFileSync(join(root, file), 'utf8').split('\n').filter((line) => /^\s*(it|test)(\.each\(.*\))?\(/.test(line))
      expect(titles.some((line) => line.includes(title)), `${file} has no test titled "…${title}…"`).toBe(true)
    }
  })
})
