// A VM's TPM 2.0: swtpm, started for the VM before QEMU, its state in the machine's own folder (kept
// with the machine, so keys and NV data survive restarts). QEMU talks to it on a control socket in the
// VM's runtime folder; --terminate ends swtpm when QEMU closes that socket, so it lives exactly as
// long as the VM, also across Berth restarts (QEMU holds the connection, not Berth).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, rm, stat } from 'node:fs/promises'
import { BerthError } from '../../../../shared/errors'

export const SWTPM = '/usr/bin/swtpm'

/** QEMU's side: the emulator backend on swtpm's socket and a CRB interface (what Windows 11 looks for). */
export const tpmArgv = (socket: string): string[] => [
  '-chardev', `socket,id=chrtpm,path=${socket}`,
  '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm',
  '-device', 'tpm-crb,tpmdev=tpm0',
]

export const swtpmProblem = (): string | null => (existsSync(SWTPM) ? null : 'A TPM needs swtpm: apt-get install swtpm')

/** Starts swtpm for the VM and waits for its socket (at most 10 s); the caller ends it if QEMU does not start. */
export async function startSwtpm(files: { socket: string; state: string; log: string }): Promise<ChildProcess> {
  const { log } = files
  await mkdir(files.state, { recursive: true, mode: 0o700 })
  await rm(files.socket, { force: true }) // one left by a swtpm that died would look ready before the new one is
  const argv = [
    'socket', '--tpm2',
    '--tpmstate', `dir=${files.state},mode=0600`,
    '--ctrl', `type=unixio,path=${files.socket}`,
    '--terminate',
    '--log', `file=${log},level=1`,
  ]
  const child = spawn(SWTPM, argv, { detached: true, stdio: 'ignore' })
  child.unref()
  let exited: string | null = null
  child.on('exit', (code, signal) => (exited = signal ? `was killed by ${signal}` : `exited with code ${code}`))
  child.on('error', (error) => (exited = `could not start: ${error.message}`))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (await stat(files.socket).then(() => true, () => false)) return child
    if (exited) throw new BerthError('failed', `swtpm (the VM's TPM) ${exited}; see ${log}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  child.kill('SIGKILL')
  throw new BerthError('failed', `swtpm (the VM's TPM) did not open its socket within 10 s; see ${log}`)
}
