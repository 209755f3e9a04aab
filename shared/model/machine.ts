import { z } from 'zod'
import { absolutePath } from './zod-fields'
import { backingSchema, cdromSchema, diskTuningShape, driveSchema, driveViewSchema, imageFormatSchema } from './drives'
import { networkSchema, nicModels } from './network'
import { sharedDirectorySchema } from './shares'
import { firmwareSchema } from './firmware'
import { machineNameSchema } from './machine-name'
import { nspawnSpecSchema, type NspawnSpec } from './container'
import { xenSpecSchema, type XenSpec } from './xen'
import { extraArgsProblem } from './qemu-extra-args'
import { cloudInitSchema } from './cloud-init'

export { machineNameSchema }

export const machineStates = ['running', 'stopped', 'paused', 'starting', 'stopping', 'crashed', 'unknown'] as const
export const machineStateSchema = z.enum(machineStates)
export type MachineState = z.infer<typeof machineStateSchema>

export const machineIdSchema = z.string().regex(/^[a-z0-9]{12}$/, 'Not a machine id')

export const qemuBootSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('kernel'),
    kernel: absolutePath,
    initrd: absolutePath.optional(),
    append: z.string().max(4096, 'Kernel parameters are limited to 4096 characters').default(''),
    /** qemu-vm.nix's qemu.consoles: each becomes console=… on the kernel command line. */
    consoles: z
      .array(z.string().regex(/^[A-Za-z0-9,._-]{1,64}$/, 'A console is a device name like ttyS0,115200n8 or tty0'))
      .max(8)
      .default([]),
  }),
  z.object({
    type: z.literal('disk'),
    /**
     * Installing an operating system from the disc in the CD drive: the disc boots first, the disk (empty
     * until the installer fills it) second. The installation ends when the guest first restarts or powers
     * off: Berth then boots the disk, ejecting the disc when ejectAfterInstall (as virt-manager does).
     */
    install: z.object({ ejectAfterInstall: z.boolean().default(true) }).nullable().default(null),
  }),
])

export const qemuDiskSchema = z.object({
  ...diskTuningShape,
  /** Where the disk image lives; Berth's image directory when omitted. Created as qcow2 when missing. */
  image: absolutePath.optional(),
  sizeMiB: z
    .number({ error: 'Enter a size in MiB' })
    .int('Use a whole number of MiB')
    .min(1, 'A disk needs at least 1 MiB')
    .max(64 * 1024 * 1024, 'At most 64 TiB'),
  /** qemu-vm.nix's diskInterface: the bus of the root disk and the empty disks. */
  interface: z.enum(['virtio', 'scsi', 'sata', 'nvme', 'ide']).default('virtio'),
  /**
   * The image's format, recorded by Berth when the disk is chosen or created (never taken from the
   * caller) and always stated to QEMU: a guest that writes an image header onto its raw disk cannot
   * make QEMU open other files. Absent only in definitions older than the rule.
   */
  format: imageFormatSchema.optional(),
  /** The image's backing files as Berth checked them when it recorded the format; stated to QEMU too. */
  backing: backingSchema.optional(),
  /**
   * A disk image (a cloud image, another VM's disk) Berth's new disk starts from, made at create:
   * a qcow2 on top of it (the image is only read, and must stay), or a copy (copy: true); grown to sizeMiB.
   */
  base: z.object({ file: absolutePath, copy: z.boolean().default(false) }).nullable().default(null),
})

/** A graphical screen, watched in Berth's window (noVNC or spice-html5); null: serial console only. */
export const displaySchema = z.object({
  protocol: z.enum(['vnc', 'spice']).default('vnc'),
  width: z.number({ error: 'Enter a width in pixels' }).int().min(640, 'At least 640 pixels').max(7680, 'At most 7680 pixels').default(1024),
  height: z.number({ error: 'Enter a height in pixels' }).int().min(480, 'At least 480 pixels').max(4320, 'At most 4320 pixels').default(768),
})
export type DisplaySpec = z.infer<typeof displaySchema>

export const qemuSpecSchema = z
  .object({
    kind: z.literal('qemu'),
    name: machineNameSchema,
    memoryMiB: z
      .number({ error: 'Enter the memory in MiB' })
      .int('Use a whole number of MiB')
      .min(16, 'At least 16 MiB')
      .max(1024 * 1024, 'At most 1 TiB'),
    cores: z.number({ error: 'Enter a number of cores' }).int('Use a whole number').min(1, 'At least 1 core').max(255, 'At most 255 cores'),
    /** pc: i440fx (IDE); q35: PCIe + AHCI, needed for Secure Boot. */
    chipset: z.enum(['pc', 'q35']).default('pc'),
    firmware: firmwareSchema.default({ kind: 'bios' }),
    boot: qemuBootSchema,
    disk: qemuDiskSchema.nullable().default(null),
    /** qemu-vm.nix's emptyDiskImages: blank qcow2 disks of these sizes (MiB), made at first start. */
    emptyDiskImages: z
      .array(z.number({ error: 'Enter a size in MiB' }).int().min(1, 'At least 1 MiB').max(64 * 1024 * 1024))
      .max(8, 'At most 8 empty disks')
      .default([]),
    /** Further disk images, attached in this order. */
    drives: z.array(driveSchema).max(16, 'At most 16 drives').default([]),
    cdrom: cdromSchema.nullable().default({ file: null }),
    display: displaySchema.nullable().default(null),
    network: networkSchema.nullable().default({ forwardPorts: [], bridge: null }),
    /** The model of every network card (the main one and the vlans'). */
    nicModel: z.enum(nicModels).default('virtio'),
    /** The 2010 module's vlans: one more network card per number; VMs that share a number reach each other. */
    vlans: z
      .array(z.number({ error: 'Enter a vlan number' }).int('Use a whole number').min(1, 'Vlan numbers start at 1').max(4094, 'Vlan numbers end at 4094'))
      .max(8, 'At most 8 vlans')
      .default([])
      .refine((vlans) => new Set(vlans).size === vlans.length, 'Each vlan once'),
    /**
     * M in the module's 192.168.N.M: this VM's address on each vlan N (up to 254), handed out by the
     * vlan's DHCP server; null: an address from the vlan's pool (192.168.N.200–250).
     */
    vlanNumber: z.number({ error: 'Enter a number from 1 to 199' }).int('Use a whole number').min(1, 'Numbers start at 1').max(199, 'At most 199 (200–250 are the pool, 254 is the host)').nullable().default(null),
    sharedDirectories: z.array(sharedDirectorySchema).max(32, 'At most 32 shared folders').default([]),
    /** An absolute pointer on the screen (usb-tablet), so the mouse follows the viewer's. */
    usbTablet: z.boolean().default(true),
    /** qemu-vm.nix's guestAgent.enable: a virtio-serial channel for the QEMU guest agent. */
    guestAgent: z.boolean().default(true),
    /** virtio-rng: the guest's entropy from the host, as qemu-vm.nix always adds. */
    rng: z.boolean().default(true),
    /** The first boot of a cloud image: a NoCloud seed (a disc labelled cidata) Berth writes from these settings. */
    cloudInit: cloudInitSchema.nullable().default(null),
    /** A TPM 2.0 (swtpm; Windows 11 needs one), its state kept with the machine. */
    tpm: z.boolean().default(false),
    /** qemu-vm.nix's qemu.package: another QEMU build (its qemu-system-x86_64); null: the system's. */
    qemuBinary: absolutePath.nullable().default(null),
    /** Power users' own QEMU arguments from an allow-list (qemu-extra-args.ts): an argv list, never a shell string. */
    extraArgs: z
      .array(z.string().min(1).max(4096))
      .max(128, 'At most 128 extra arguments')
      .default([])
      .superRefine((args, ctx) => {
        const why = extraArgsProblem(args)
        if (why) ctx.addIssue({ code: 'custom', message: why })
      }),
  })
  .superRefine((spec, ctx) => {
    if (spec.firmware.kind === 'efi' && spec.firmware.secureBoot && spec.chipset !== 'q35')
      ctx.addIssue({ code: 'custom', path: ['chipset'], message: 'Secure Boot needs the Q35 chipset (its firmware requires SMM)' })
    const tags = new Set<string>()
    spec.sharedDirectories.forEach((share, i) => {
      if (tags.has(share.tag))
        ctx.addIssue({ code: 'custom', path: ['sharedDirectories', i, 'tag'], message: `The tag ${share.tag} is used twice: tags must be unique` })
      tags.add(share.tag)
    })
    if (spec.boot.type === 'disk' && !spec.disk)
      ctx.addIssue({ code: 'custom', path: ['disk'], message: spec.boot.install ? 'An installation needs a disk to install onto' : 'Booting from disk needs a disk image' })
    if (spec.disk?.image && spec.disk.base)
      ctx.addIssue({ code: 'custom', path: ['disk', 'base'], message: 'A disk made from a base image lives in Berth’s image folder: leave its path empty' })
    if (spec.boot.type === 'disk' && spec.boot.install && !spec.cdrom?.file)
      ctx.addIssue({ code: 'custom', path: ['cdrom', 'file'], message: 'Choose the installation media (an ISO image)' })
    if (spec.vlanNumber !== null && spec.vlans.length === 0)
      ctx.addIssue({ code: 'custom', path: ['vlanNumber'], message: 'A number on the vlans needs at least one vlan' })
    const unaddressed = spec.vlans.find((vlan) => vlan > 254)
    if (spec.vlanNumber !== null && unaddressed)
      ctx.addIssue({ code: 'custom', path: ['vlanNumber'], message: `Vlan ${unaddressed} has no 192.168.N.M addresses (only vlans 1 to 254 do): use a lower vlan or no number` })
  })
export type QemuSpec = z.infer<typeof qemuSpecSchema>
export type QemuSpecInput = z.input<typeof qemuSpecSchema>

export const machineSpecSchema = z.discriminatedUnion('kind', [qemuSpecSchema, nspawnSpecSchema, xenSpecSchema])
export type MachineSpec = QemuSpec | NspawnSpec | XenSpec
export type MachineKind = MachineSpec['kind']

export const acceleratorSchema = z.enum(['kvm', 'tcg'])

/**
 * What a machine has, as its backend says (the page shows a tab or button only for these): a screen,
 * drives and a CD drive, a shell inside it, a reboot Berth can ask for, pause, a guest agent, snapshots,
 * clones.
 */
export const capabilities = ['display', 'drives', 'shell', 'reboot', 'pause', 'guestAgent', 'metrics', 'snapshots', 'clone'] as const
export const capabilitySchema = z.enum(capabilities)
export type Capability = z.infer<typeof capabilitySchema>

/** What can be done to a machine, and from which states (each backend's table, checked in one place). */
export const machineActions = ['start', 'stop', 'pause', 'resume', 'reboot', 'edit', 'remove'] as const
export const machineActionSchema = z.enum(machineActions)
export type MachineAction = z.infer<typeof machineActionSchema>

/** What only one kind of machine has while it runs. */
export const machineRuntimeSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('qemu'),
    /** Set while the machine runs: which accelerator QEMU uses. */
    accelerator: acceleratorSchema.nullable(),
    /** The definition's drives and, while it runs, the ones attached live only. */
    drives: z.array(driveViewSchema),
    /** The disc in the CD drive now (null: no CD drive). */
    cdrom: cdromSchema.nullable(),
  }),
  z.object({ kind: z.literal('nspawn') }),
  z.object({
    kind: z.literal('xen'),
    /** The copies of disks Berth made on its host for it (a clone's) that it still uses: deleted with it when asked. */
    madeDisks: z.array(z.string()),
  }),
])
export type MachineRuntime = z.infer<typeof machineRuntimeSchema>

export const machineSchema = z.object({
  id: machineIdSchema,
  spec: machineSpecSchema,
  state: machineStateSchema,
  /** Why the machine last stopped unexpectedly or failed to start. */
  lastError: z.string().nullable(),
  /** While stopping: how (ACPI power button sent, the guest shuts down, quitting) and when Berth quits it. */
  stopping: z.object({ how: z.string(), quitsAt: z.string().nullable() }).nullable().default(null),
  capabilities: z.array(capabilitySchema),
  /** The actions its state allows now. */
  actions: z.array(machineActionSchema),
  runtime: machineRuntimeSchema,
  createdAt: z.string(),
})
export type Machine = z.infer<typeof machineSchema>
export type QemuRuntime = Extract<MachineRuntime, { kind: 'qemu' }>

/** A virtual machine's runtime (accelerator, drives, disc); a machine of another kind has none. */
export function vmRuntime(machine: Machine): QemuRuntime {
  if (machine.runtime.kind !== 'qemu') throw new Error(`${machine.spec.name} is not a virtual machine`)
  return machine.runtime
}

/** A definition file that could not be loaded: shown to the person, never silently dropped. */
export const brokenDefinitionSchema = z.object({ file: z.string(), reason: z.string() })
export type BrokenDefinition = z.infer<typeof brokenDefinitionSchema>

/** What is stored on disk for each machine. */
export const machineDefinitionSchema = z.object({
  version: z.literal(1),
  id: machineIdSchema,
  createdAt: z.string(),
  spec: machineSpecSchema,
})
export type MachineDefinition = z.infer<typeof machineDefinitionSchema>
/** A definition whose kind is known. */
export type DefinitionOf<S extends MachineSpec> = Omit<MachineDefinition, 'spec'> & { spec: S }
