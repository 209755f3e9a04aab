// qemu-vm.nix's qemu.package: which QEMU runs a VM. The system's by default; another build (a newer
// QEMU compiled by the person) is checked to be an x86-64 system emulator before a VM uses it.
import { access, stat } from 'node:fs/promises'
import { constants } from 'node:fs'
import { exec } from '../../exec'

export async function qemuVersion(binary: string): Promise<string | null> {
  try {
    const { stdout } = await exec([binary, '--version'], { timeoutMs: 10_000 })
    return /QEMU emulator version ([\d.]+)/.exec(stdout)?.[1] ?? null
  } catch {
    return null
  }
}

/** What is wrong with a QEMU binary a person chose, in words; null: it is a QEMU for x86-64 PCs. */
export async function emulatorProblem(binary: string): Promise<string | null> {
  const info = await stat(binary).catch(() => null)
  if (!info) return `${binary} does not exist`
  if (!info.isFile()) return `${binary} is not a file`
  if (!(await access(binary, constants.X_OK).then(() => true, () => false))) return `${binary} is not executable (chmod +x it)`
  if (!(await qemuVersion(binary))) return `${binary} is not QEMU: it does not answer --version with "QEMU emulator version"`
  const machines = await exec([binary, '-machine', 'help'], { timeoutMs: 10_000 }).then((r) => r.stdout, () => '')
  if (!/^q35\s/m.test(machines) || !/^pc\s/m.test(machines))
    return `${binary} is not a QEMU for x86-64 PCs (it has no pc and q35 machines): choose a qemu-system-x86_64`
  return null
}
