// An osinfo-db archive (the layout of upstream's osinfo-db-*.tar.xz) holding the project's Debian 12
// entry (e2e/fixtures/osinfo), as a person would download a database newer than the system's.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project's own osinfo database folder (its os/ holds the Debian 12 entry). */
export const osinfoFixture = fileURLToPath(new URL('../../../e2e/fixtures/osinfo', import.meta.url))
const entries = `${osinfoFixture}/os`

/** Writes osinfo-db-20230610.tar.xz into the folder `into` (work: a scratch folder); its path. */
export function osinfoArchive(into: string, work: string): string {
  const root = join(work, 'osinfo-db-20230610')
  mkdirSync(root, { recursive: true })
  execFileSync('cp', ['-r', entries, root])
  writeFileSync(join(root, 'VERSION'), '20230610\n')
  const archive = join(into, 'osinfo-db-20230610.tar.xz')
  execFileSync('tar', ['-C', work, '-cJf', archive, 'osinfo-db-20230610'])
  return archive
}
