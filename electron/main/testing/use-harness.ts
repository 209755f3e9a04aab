// The harness of a test file: started before its tests, cleaned up after them, with a folder for the
// files its tests make (images, roots).
import { afterAll, beforeAll } from 'vitest'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, type Harness } from './harness'

export function useHarness(): { readonly h: Harness; readonly files: string } {
  const state = {} as { h: Harness; files: string }
  beforeAll(async () => {
    state.h = await startHarness()
    state.files = join(state.h.home, 'files')
    mkdirSync(state.files)
  })
  afterAll(async () => {
    await state.h?.cleanup()
  })
  return state
}
