import { describe, expect, it } from 'vitest'
import { useAction } from './use-action'

describe('useAction', () => {
  it('says what runs, keeps the last failure, and clears it on the next run', async () => {
    const action = useAction()
    let seenBusy: string | null = null
    expect(await action.run('Starting', async () => ((seenBusy = action.busy.value), 42))).toBe(42)
    expect(seenBusy).toBe('Starting')
    expect(action.busy.value).toBeNull()
    const seen: unknown[] = []
    expect(await action.run('Stopping', async () => Promise.reject(new Error('vm is not running')), (e) => seen.push(e))).toBeUndefined()
    expect(action.error.value).toBe('vm is not running')
    expect(seen).toHaveLength(1)
    await action.run('Starting', async () => undefined)
    expect(action.error.value).toBeNull()
  })
})
