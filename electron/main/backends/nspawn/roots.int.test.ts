// Making container roots for real: a tarball import and a Debian made by debootstrap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import type { StreamInput } from '../../../../shared/contract'
import { startHarness, watchConsole, type Harness } from '../../testing/harness'
import { makeBusyboxRoot } from '../../testing/container-root'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

/** Runs roots.create and collects its log and progress; cancelAfter: cancel once the log has this many lines. */
async function makeRoot(input: StreamInput<'roots.create'>, cancelAfter?: number) {
  let log = ''
  const progress: { phase: string; fraction: number | null }[] = []
  let path: string | null = null
  const decoder = new TextDecoder()
  const closed = new Promise<BerthError | null>((resolve) => {
    void h.client
      .openStream('roots.create', input, {
        onData: (bytes) => {
          log += decoder.decode(bytes, { stream: true })
          if (cancelAfter && log.split('\n').length > cancelAfter) stream?.control({ cancel: true })
        },
        onControl: (message) => {
          if ('path' in message) path = message.path
          else progress.push(message)
        },
        onClose: (error) => resolve(error ? (error as BerthError) : null),
      })
      .then((s) => (stream = s), resolve)
  })
  let stream: { control(c: { cancel: true }): void } | undefined
  const error = await closed
  return { log, progress, path: path as string | null, error }
}

describe('container roots', () => {
  it('imports a tarball with progress, and the container runs from it', async () => {
    const tree = makeBusyboxRoot(join(h.home, 'tree'))
    const tarball = join(h.home, 'busybox-root.tar.gz')
    execFileSync('tar', ['--create', '--gzip', `--file=${tarball}`, `--directory=${tree}`, '.'])
    const { path, progress, log, error } = await makeRoot({ name: 'imported', source: { type: 'tarball', file: tarball } })
    expect(error).toBeNull()
    expect(path).toBe(join(h.home, 'var-lib-machines', 'imported'))
    expect(existsSync(join(path!, 'etc/os-release'))).toBe(true)
    expect(progress.length).toBeGreaterThan(1)
    expect(progress.at(-1)).toEqual({ phase: 'Done', fraction: 1 })
    expect(log).toContain('tar --extract')
    expect(readFileSync(join(h.home, 'data', 'roots', 'imported.log'), 'utf8')).toContain('Done:')

    // The same name again is refused on the name field, and nothing changes.
    const again = await makeRoot({ name: 'imported', source: { type: 'tarball', file: tarball } })
    expect(again.error?.code).toBe('invalid_input')

    const machine = await h.client.call('machines.create', {
      spec: { kind: 'nspawn', name: 'imported', root: path!, init: { type: 'command', argv: ['/bin/sh', '-c', 'echo from-$((40+2))'] } },
    })
    await h.client.call('machines.start', { id: machine.id }).catch(() => undefined)
    const viewer = await watchConsole(h.client, machine.id)
    await viewer.waitFor('from-42', 20_000)
    // Deleting the container with its files removes the root Berth made, and only that.
    await new Promise((r) => setTimeout(r, 500))
    await h.client.call('machines.stop', { id: machine.id, force: true, timeoutSec: 0 })
    await h.client.call('machines.remove', { id: machine.id, deleteImages: true })
    expect(existsSync(path!)).toBe(false)
    expect(existsSync(tree)).toBe(true)
  })

  it('refuses a tarball that holds no OS tree and keeps nothing', async () => {
    const tarball = join(h.home, 'not-a-root.tar')
    execFileSync('tar', ['--create', `--file=${tarball}`, `--directory=${h.home}`, 'config'])
    const { error } = await makeRoot({ name: 'junk', source: { type: 'tarball', file: tarball } })
    expect(error?.message).toMatch(/not a container root: .*operating system tree/)
    expect(readdirSync(join(h.home, 'var-lib-machines')).filter((f) => f.includes('junk'))).toEqual([])
  })

  it('bootstraps a Debian with debootstrap, showing progress, and a cancelled run leaves nothing', async () => {
    const cancelled = await makeRoot({ name: 'halfway', source: { type: 'debootstrap', suite: 'bookworm', variant: 'minbase', include: [] } }, 5)
    expect(cancelled.error?.code).toBe('cancelled')
    expect(readdirSync(join(h.home, 'var-lib-machines')).filter((f) => f.includes('halfway'))).toEqual([])

    const { path, progress, error, log } = await makeRoot({
      name: 'debian',
      source: { type: 'debootstrap', suite: 'bookworm', variant: 'minbase', include: [] },
    })
    expect(error, log.slice(-2000)).toBeNull()
    expect(readFileSync(join(path!, 'etc/os-release'), 'utf8')).toContain('bookworm')
    const phases = new Set(progress.map((p) => p.phase))
    expect([...phases]).toEqual(expect.arrayContaining(['Downloading', 'Extracting', 'Installing', 'Configuring', 'Done']))
    const fractions = progress.map((p) => p.fraction ?? 0)
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b)) // never goes backwards

    const machine = await h.client.call('machines.create', {
      spec: { kind: 'nspawn', name: 'debian', root: path!, init: { type: 'command', argv: ['/bin/cat', '/etc/debian_version'] } },
    })
    await h.client.call('machines.start', { id: machine.id }).catch(() => undefined)
    const viewer = await watchConsole(h.client, machine.id)
    await viewer.waitFor(/^12\.\d+/m, 20_000)
  }, 400_000)
})
