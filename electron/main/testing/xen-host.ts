// A real Xen host for tests: Xen 4.17 + a dom0 built by e2e/fixtures/build-xen-host.sh, booted nested
// under QEMU TCG, its SSH server forwarded to 127.0.0.1. Missing is a failure, never a skip.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'node:net'
import { freePort } from './free-port'
import { fixtureDir } from './guest'

const dir = fixtureDir('xen-host', process.env.BERTH_XEN_HOST_DIR)

export const xenHostFiles = {
  dir,
  xen: join(dir, 'xen.elf'),
  kernel: join(dir, 'vmlinuz'),
  initrd: join(dir, 'dom0.cpio.gz'),
  /** The private key dom0's root accepts. */
  clientKey: join(dir, 'client_key'),
  /** Paths inside dom0: the test guest, to boot as a PV domU. */
  guestKernel: '/var/lib/berth-test/vmlinuz',
  guestRamdisk: '/var/lib/berth-test/initrd.cpio.gz',
}

export interface XenHost {
  port: number
  /** dom0's SSH host key, as the fixture made it. */
  fingerprint: string
  clientKey: string
  /** Everything Xen and dom0 printed (COM1 and hvc0). */
  output(): string
  stop(): Promise<void>
}

/** Boots Xen + dom0 and resolves once dom0's SSH server answers (about 10 s under TCG). */
export async function bootXenHost(options: { timeoutMs?: number } = {}): Promise<XenHost> {
  for (const file of [xenHostFiles.xen, xenHostFiles.kernel, xenHostFiles.initrd, xenHostFiles.clientKey])
    if (!existsSync(file)) throw new Error(`The Xen host fixture is missing (${file}): run bash e2e/fixtures/build-xen-host.sh`)
  const port = await freePort()
  // Flags from the measured recipe: TCG, smap/smep/rdtscp hidden (dom0 and PVH guests crash otherwise),
  // commas kept out of module command lines (QEMU splits -initrd on them).
  const child: ChildProcess = spawn(
    'qemu-system-x86_64',
    [
      '-accel', 'tcg', '-cpu', 'max,-smap,-smep,-rdtscp', '-m', '2048', '-smp', '2',
      '-nographic', '-no-reboot', '-monitor', 'none',
      '-kernel', xenHostFiles.xen,
      '-append', 'console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all noreboot',
      '-initrd', `${xenHostFiles.kernel} console=hvc0 earlyprintk=xen,${xenHostFiles.initrd}`,
      '-nic', `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${port}-:22`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text))
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await exited
  }
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  try {
    while (!output.includes('BERTH-XEN-DOM0-READY') || !(await sshAnswers(port))) {
      if (child.exitCode !== null) throw new Error(`The Xen host exited while booting:\n${output.slice(-3000)}`)
      if (Date.now() > deadline) throw new Error(`The Xen host did not come up in time:\n${output.slice(-3000)}`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  } catch (error) {
    await stop()
    throw error
  }
  return {
    port,
    fingerprint: readFileSync(join(dir, 'host_key.fingerprint'), 'utf8').trim(),
    clientKey: xenHostFiles.clientKey,
    output: () => output,
    stop,
  }
}

/** An SSH server sends its banner first. */
function sshAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2000, () => done(false))
    socket.once('data', (data: Buffer) => done(data.toString('latin1').startsWith('SSH-')))
    socket.once('error', () => done(false))
  })
}
