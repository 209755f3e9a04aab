import { describe, expect, it } from 'vitest'
import { exec, ExecError } from './exec'

describe('exec', () => {
  it('runs an argv array without a shell and returns its output', async () => {
    const result = await exec(['printf', '%s|', 'a b', '$(echo no)', ';ls'])
    expect(result.stdout).toBe('a b|$(echo no)|;ls|')
  })

  it('passes input on stdin when given', async () => {
    expect((await exec(['cat'], { input: 'hello' })).stdout).toBe('hello')
  })

  it('survives programs that exit before reading their input', async () => {
    for (let i = 0; i < 50; i++) await exec(['true'], { input: 'x'.repeat(1024 * 1024) })
  })

  it('rejects with the exit code and the end of stderr, or says the program is missing', async () => {
    const failed = await exec(['sh', '-c', 'echo bad >&2; exit 3']).catch((e: unknown) => e)
    expect(failed).toBeInstanceOf(ExecError)
    expect((failed as ExecError).message).toBe('sh exited with code 3: bad')
    const missing = await exec(['berth-no-such-program']).catch((e: unknown) => e)
    expect((missing as ExecError).message).toBe('berth-no-such-program is not installed')
  })
})
