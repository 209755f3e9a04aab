import { describe, expect, it } from 'vitest'
import { chooseAccelerator, type AcceleratorProbe } from './accel'

const probe = (over: Partial<AcceleratorProbe>): AcceleratorProbe => ({
  cpuinfo: async () => 'processor : 0\nflags : fpu vme de pse tsc msr pae vmx sse\n',
  kvmAccessible: async () => 'ok',
  qemuKvmWorks: async () => true,
  ...over,
})

describe('chooseAccelerator', () => {
  it('KVM when the CPU has vmx, /dev/kvm is usable and QEMU can start it', async () => {
    expect(await chooseAccelerator(probe({}))).toMatchObject({ accelerator: 'kvm' })
  })

  it('TCG when the CPU has neither vmx nor svm, even though /dev/kvm exists', async () => {
    let asked = false
    const choice = await chooseAccelerator(
      probe({ cpuinfo: async () => 'flags : fpu sse hypervisor\n', qemuKvmWorks: async () => ((asked = true), true) }),
    )
    expect(choice.accelerator).toBe('tcg')
    expect(choice.reason).toMatch(/no vmx or svm flag/)
    expect(asked).toBe(false)
  })

  it('TCG with the reason when /dev/kvm is missing, not accessible, or KVM fails to start', async () => {
    expect((await chooseAccelerator(probe({ kvmAccessible: async () => 'missing' }))).reason).toMatch(/does not exist/)
    expect((await chooseAccelerator(probe({ kvmAccessible: async () => 'denied' }))).reason).toMatch(/kvm group/)
    const failed = await chooseAccelerator(probe({ qemuKvmWorks: async () => false }))
    expect(failed).toMatchObject({ accelerator: 'tcg' })
    expect(failed.reason).toMatch(/could not start KVM/)
  })

  it('recognises svm (AMD)', async () => {
    const choice = await chooseAccelerator(probe({ cpuinfo: async () => 'flags : svm npt\n' }))
    expect(choice.reason).toMatch(/svm/)
  })
})
