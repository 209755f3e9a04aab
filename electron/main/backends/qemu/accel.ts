// KVM only where the CPU offers vmx/svm and a probe works; otherwise TCG, with the reason said.
import { readFile, access, constants } from 'node:fs/promises'
import { exec } from '../../exec'
import type { Accelerator } from './argv'

export interface AcceleratorChoice {
  accelerator: Accelerator
  reason: string
}

export interface AcceleratorProbe {
  cpuinfo(): Promise<string>
  kvmAccessible(): Promise<'missing' | 'denied' | 'ok'>
  /** Starts QEMU with KVM and no machine; true when KVM initialises. */
  qemuKvmWorks(): Promise<boolean>
}

export function hostProbe(qemuBinary: string): AcceleratorProbe {
  return {
    cpuinfo: () => readFile('/proc/cpuinfo', 'utf8').catch(() => ''),
    async kvmAccessible() {
      try {
        await access('/dev/kvm', constants.F_OK)
      } catch {
        return 'missing'
      }
      try {
        await access('/dev/kvm', constants.R_OK | constants.W_OK)
        return 'ok'
      } catch {
        return 'denied'
      }
    },
    async qemuKvmWorks() {
      const argv = [qemuBinary, '-machine', 'none', '-accel', 'kvm', '-nodefaults', '-display', 'none', '-monitor', 'stdio']
      try {
        await exec(argv, { input: 'quit\n', timeoutMs: 10_000 })
        return true
      } catch {
        return false
      }
    },
  }
}

export async function chooseAccelerator(probe: AcceleratorProbe): Promise<AcceleratorChoice> {
  const flags = /^flags\s*:(.*)$/m.exec(await probe.cpuinfo())?.[1] ?? ''
  const virt = /\b(vmx|svm)\b/.exec(flags)?.[1]
  const slow = 'QEMU emulates the CPU in software (TCG): guests run several times slower'
  if (!virt)
    return {
      accelerator: 'tcg',
      reason: `The CPU exposes no vmx or svm flag (virtualization is off in the firmware, or this is a VM without nested virtualization). ${slow}.`,
    }
  const access = await probe.kvmAccessible()
  if (access === 'missing')
    return { accelerator: 'tcg', reason: `/dev/kvm does not exist (load kvm_intel or kvm_amd). ${slow}.` }
  if (access === 'denied')
    return {
      accelerator: 'tcg',
      reason: `/dev/kvm is not readable and writable by this user (add yourself to the kvm group). ${slow}.`,
    }
  if (!(await probe.qemuKvmWorks()))
    return { accelerator: 'tcg', reason: `The CPU has ${virt} and /dev/kvm is usable, but QEMU could not start KVM. ${slow}.` }
  return { accelerator: 'kvm', reason: `The CPU has ${virt} and /dev/kvm works: guests run at native speed.` }
}
