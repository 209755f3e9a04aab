// Saves a definition over and over, alternating two versions, until killed (the crash-safety test).
//   save-loop DIR
import { MachineStore } from '../store/machine-store'
import type { MachineDefinition } from '../../../shared/model/machine'
import { qemuSpecSchema } from '../../../shared/model/machine'

const store = new MachineStore(process.argv[2]!)
const version = (n: number): MachineDefinition => ({
  version: 1,
  id: 'saveloop0000',
  createdAt: '2026-01-01T00:00:00.000Z',
  // Long extra arguments make each write take a while, so kills land mid-write.
  spec: qemuSpecSchema.parse({
    kind: 'qemu',
    name: `version-${n}`,
    memoryMiB: 256,
    cores: 1,
    boot: { type: 'disk' },
    disk: { sizeMiB: 64 },
    extraArgs: Array.from({ length: 60 }, (_, i) => ['-smbios', `type=11,value=${n}-${i}-${'x'.repeat(3000)}`]).flat(),
  }),
})
console.log('saving')
for (let n = 0; ; n = 1 - n) await store.save(version(n))
