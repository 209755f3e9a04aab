import { describe, expect, it } from 'vitest'
import { snapshotNameSchema, type Snapshot } from '../../../shared/model/snapshots'
import { nameTaken, snapshotList, withoutSnapshot, type SnapshotRecord } from './snapshot-record'

const snap = (name: string, parent: string | null): Snapshot => ({
  name, description: '', createdAt: '2026-12-01T00:00:00Z', memory: false, sizeBytes: 0, parent,
})

describe('the snapshot tree', () => {
  const record: SnapshotRecord = { current: 'b', snapshots: [snap('a', null), snap('b', 'a'), snap('c', 'b'), snap('d', 'b')] }

  it('a deleted snapshot’s children hang from its parent, and the current one becomes its parent', () => {
    const left = withoutSnapshot(record, record.snapshots[1]!)
    expect(left.current).toBe('a')
    expect(left.snapshots.map((s) => [s.name, s.parent])).toEqual([['a', null], ['c', 'a'], ['d', 'a']])
    expect(record.snapshots[2]!.parent).toBe('b') // the record it came from is untouched
  })

  it('lists what the person sees, never the kept definition or image paths', () => {
    expect(Object.keys(snapshotList(record, null).snapshots[0]!).sort()).toEqual(['createdAt', 'description', 'memory', 'name', 'parent', 'sizeBytes'])
  })

  it('refuses a name taken in another case, and names QEMU could read as a snapshot number', () => {
    expect(nameTaken(record, 'A')?.message).toBe('A snapshot named “a” exists already')
    expect(nameTaken(record, 'e')).toBeNull()
    expect(snapshotNameSchema.safeParse('42').success).toBe(false)
    expect(snapshotNameSchema.safeParse('before upgrade 2').success).toBe(true)
    expect(snapshotNameSchema.safeParse('-x').success).toBe(false)
  })
})
