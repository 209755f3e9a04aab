// THE one definition of Berth's API. Main implements it, the renderer calls it, both typed from here.
import { sampleSchema } from '../model/metrics'
import { z } from 'zod'
import { brokenDefinitionSchema, machineIdSchema, machineNameSchema, machineSchema, machineSpecSchema } from '../model/machine'
import { rootSourceSchema } from '../model/container'
import { guestInfoSchema } from '../model/guest-agent'
import { bridgeSpecSchema, bridgeViewSchema } from '../model/bridge'
import { allowedModuleNames, readinessCheckSchema } from '../model/readiness'
import { interfaceNameSchema } from '../model/net'
import { hostInfoSchema } from '../model/host'
import { dom0InfoSchema, domainSchema, hostIdSchema, hostViewSchema, remoteHostSpecSchema, sshTargetSchema } from '../model/remote-host'
import { diskTargetSchema, driveBusSchema, driveIdSchema, growStepSchema, imageFormatSchema, imageInfoSchema } from '../model/drives'
import { absolutePath } from '../model/zod-fields'
import { snapshotListSchema, snapshotNameSchema, snapshotSchema } from '../model/snapshots'
import { imageContentsSchema, mediaInfoSchema } from '../model/os-info'
import { folderListingSchema } from '../model/files'

const empty = z.object({}).strict()
const byId = z.object({ id: machineIdSchema }).strict()

export const contract = {
  methods: {
    'host.info': { input: empty, output: hostInfoSchema },
    /** The host readiness page: what each backend needs and whether this host has it. */
    'host.readiness': { input: empty, output: z.object({ checks: z.array(readinessCheckSchema) }) },
    /** A fix Berth can do itself: load an allowed kernel module (through the privileged helper). */
    'host.loadModule': { input: z.object({ module: z.enum(allowedModuleNames) }).strict(), output: z.object({ checks: z.array(readinessCheckSchema) }) },
    'machines.list': {
      input: empty,
      output: z.object({ machines: z.array(machineSchema), broken: z.array(brokenDefinitionSchema) }),
    },
    /** Checks a spec as create would (files exist, images are images) and returns the QEMU command line. */
    'machines.preview': {
      /** id: the machine being edited (its own name is no clash). */
      input: z.object({ spec: machineSpecSchema, id: machineIdSchema.optional() }).strict(),
      /**
       * config: the file the machine runs from, when it has one (a Xen domain's xl.cfg).
       * needsPassword: what in a container goes beyond Berth's policy, so that each start asks for an
       * administrator's password (empty or absent: nothing).
       */
      output: z.object({ argv: z.array(z.string()), config: z.string().optional(), needsPassword: z.array(z.string()).optional() }),
    },
    'machines.create': { input: z.object({ spec: machineSpecSchema }).strict(), output: machineSchema },
    /** Replaces a stopped machine's settings, checked as create checks them. */
    'machines.update': {
      input: z.object({ id: machineIdSchema, spec: machineSpecSchema }).strict(),
      output: machineSchema,
    },
    'machines.start': { input: byId, output: machineSchema },
    /** Graceful: ACPI power button, then quit after timeoutSec. force: quit at once. */
    'machines.stop': {
      input: z
        .object({
          id: machineIdSchema,
          force: z.boolean().default(false),
          timeoutSec: z.number().int().min(0).max(3600).default(30),
        })
        .strict(),
      output: machineSchema,
    },
    'machines.pause': { input: byId, output: machineSchema },
    /** Xen domains: xl reboot (the guest restarts itself). */
    'machines.reboot': { input: byId, output: machineSchema },
    'machines.resume': { input: byId, output: machineSchema },
    'machines.remove': {
      input: z.object({ id: machineIdSchema, deleteImages: z.boolean().default(false) }).strict(),
      output: z.object({ removed: z.literal(true) }),
    },
    /**
     * A WebSocket URL (127.0.0.1, with a ticket for this machine only) carrying the running
     * machine's screen: VNC for noVNC, SPICE for spice-html5.
     */
    'display.open': {
      input: byId,
      output: z.object({ url: z.string(), protocol: z.enum(['vnc', 'spice']) }),
    },
    /** The running machine's screen as a PNG (base64), for thumbnails. */
    'display.screenshot': { input: byId, output: z.object({ png: z.string() }) },
    /** The files in the folders Berth may attach from without asking (its image folder). */
    'images.list': {
      input: empty,
      output: z.object({
        folders: z.array(
          z.object({ dir: z.string(), images: z.array(z.object({ path: z.string(), name: z.string(), size: z.number() })) }),
        ),
      }),
    },
    /** Installation media: the operating system on them (libosinfo) and the VM settings Berth proposes for it. */
    'media.detect': { input: z.object({ path: absolutePath }).strict(), output: mediaInfoSchema },
    /** A disk image with an installed system (a cloud image): which system, and whether it has cloud-init (libguestfs; about a minute under TCG). */
    'media.lookInside': { input: z.object({ path: absolutePath }).strict(), output: imageContentsSchema },
    /** An osinfo-db archive (osinfo-db-*.tar.xz) into Berth's own database, for systems newer than the system's osinfo-db. */
    'media.importDatabase': { input: z.object({ path: absolutePath }).strict(), output: z.object({ database: z.string() }) },
    /** Browser mode's file chooser: a folder inside the places Berth shows (default: where the last choice was). */
    'files.list': { input: z.object({ dir: absolutePath.optional() }).strict(), output: folderListingSchema },
    /** A folder of the person's own among the file chooser's places (never one of the system's or another user's). */
    'files.addPlace': { input: z.object({ path: absolutePath }).strict(), output: empty },
    /** A file the person chose, first among the recent choices. */
    'files.remember': { input: z.object({ path: absolutePath }).strict(), output: z.object({ recent: z.array(z.string()) }) },
    /** The person's SSH public keys (~/.ssh/*.pub), to let into a cloud image. */
    'keys.list': { input: empty, output: z.object({ keys: z.array(z.object({ file: z.string(), key: z.string() })) }) },
    /** A password as the SHA-512 crypt hash a cloud image's first boot sets (the spec keeps only the hash). */
    'cloudInit.hashPassword': {
      input: z.object({ password: z.string().min(1, 'Enter a password').max(1024).regex(/^[^\n\r]*$/, 'A password is one line') }).strict(),
      output: z.object({ hash: z.string() }),
    },
    /** What a file is (disk image or ISO, format, backing chain), before attaching it. */
    'images.inspect': { input: z.object({ path: absolutePath }).strict(), output: imageInfoSchema },
    /**
     * Attach a disk image (hot-plug when running) or put an ISO in the CD drive. persist: also keep
     * it in the definition. A stopped machine always keeps it.
     */
    'drives.attach': {
      input: z
        .object({
          id: machineIdSchema,
          path: absolutePath,
          bus: driveBusSchema.default('virtio'),
          persist: z.boolean().default(true),
          /** The person confirmed backing files outside the allowed folders. */
          allowOutsideBacking: z.boolean().default(false),
        })
        .strict(),
      output: machineSchema,
    },
    'drives.detach': { input: z.object({ id: machineIdSchema, driveId: driveIdSchema }).strict(), output: machineSchema },
    'drives.eject': { input: byId, output: machineSchema },
    /** A disk's size now (virtual: what the guest sees) and what its image takes on the host. */
    'drives.size': {
      input: z.object({ id: machineIdSchema, disk: diskTargetSchema }).strict(),
      output: z.object({ virtualSize: z.number(), fileSize: z.number(), format: imageFormatSchema, growable: z.string().nullable() }),
    },
    /** Asks a running VM's QEMU guest agent about the guest. */
    'machines.guestInfo': { input: byId, output: guestInfoSchema },
    /** A stopped UEFI VM's variable store made anew from the firmware's template (boot entries and settings gone). */
    'machines.resetFirmwareVars': { input: byId, output: machineSchema },
    /** A new VM from a stopped one or one of its snapshots: disks copied, or linked (overlays on the original's, which then must stay); new MACs. */
    'machines.clone': {
      input: z
        .object({
          id: machineIdSchema,
          name: machineNameSchema,
          linked: z.boolean().default(false),
          firmwareState: z.enum(['copy', 'fresh']).default('fresh'),
          /** Made from this snapshot (its disks and settings then), as a full copy. */
          snapshot: snapshotNameSchema.nullable().default(null),
          /** VMs with Linux: a new machine-id and SSH host keys on the clone's disk (libguestfs). */
          newIdentity: z.boolean().default(false),
        })
        .strict(),
      output: machineSchema,
    },
    /** A VM's snapshots as a tree (parent names), which one it descends from now, and why it cannot take one (if so). */
    'snapshots.list': { input: byId, output: snapshotListSchema },
    /** Running: disks, UEFI variables, memory, devices and TPM (QEMU's snapshot-save); stopped: disks, UEFI variables and TPM state. */
    'snapshots.take': {
      input: z.object({ id: machineIdSchema, name: snapshotNameSchema, description: z.string().max(2000, 'At most 2000 characters').default('') }).strict(),
      output: snapshotSchema,
    },
    /** Back to the snapshot, settings too: a running VM resumes where the snapshot was taken; what changed since is lost. */
    'snapshots.revert': { input: z.object({ id: machineIdSchema, name: snapshotNameSchema }).strict(), output: machineSchema },
    /** Its space is freed; snapshots taken from it hang from its parent. */
    'snapshots.delete': { input: z.object({ id: machineIdSchema, name: snapshotNameSchema }).strict(), output: snapshotListSchema },
    /** This computer and the remote hosts (SSH), with their connection state. */
    'hosts.list': { input: empty, output: z.object({ hosts: z.array(hostViewSchema) }) },
    /** The host key an SSH host presents, for the person to compare before adding it. */
    'hosts.probe': {
      input: z.object({ ssh: sshTargetSchema }).strict(),
      output: z.object({ algorithm: z.string(), fingerprint: z.string() }),
    },
    /** Adds an SSH host with the host key the person accepted; Berth must be able to log in. */
    'hosts.add': { input: z.object({ spec: remoteHostSpecSchema }).strict(), output: hostViewSchema },
    'hosts.remove': { input: z.object({ id: hostIdSchema }).strict(), output: z.object({ removed: z.literal(true) }) },
    /** The dom0 panel of a Xen host: Xen's version, command line, memory, caps, daemons, and its domains. */
    'hosts.dom0': {
      input: z.object({ id: hostIdSchema }).strict(),
      output: z.object({ info: dom0InfoSchema, domains: z.array(domainSchema) }),
    },
    'networks.list': { input: empty, output: z.object({ bridges: z.array(bridgeViewSchema) }) },
    'networks.create': { input: z.object({ spec: bridgeSpecSchema }).strict(), output: bridgeViewSchema },
    'networks.remove': { input: z.object({ name: interfaceNameSchema }).strict(), output: z.object({ removed: z.literal(true) }) },
  },
  events: {
    /** Something about this machine changed (state, definition): the machine as it is now, null once removed. */
    'machines.changed': z.object({ id: z.string(), machine: machineSchema.nullable() }),
    /** Berth made or removed a bridge; clients refresh the Networks page. */
    'networks.changed': z.object({}),
    /** A host was added or removed, or its connection changed. */
    'hosts.changed': z.object({}),
  },
  streams: {
    /**
     * Serial console: the scrollback first, then live bytes; bytes from the client are keystrokes.
     * The server says first how many bytes of scrollback come (history), so the view can say so.
     */
    'console.open': {
      input: z.object({ id: machineIdSchema }).strict(),
      control: z.object({ cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }).strict(),
      serverControl: z.object({ history: z.number().int().min(0) }).strict(),
    },
    /** A login shell inside a running container (not kept: it ends with the viewer). Same frames as console.open. */
    'shell.open': {
      input: z.object({ id: machineIdSchema }).strict(),
      control: z.object({ cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }).strict(),
      serverControl: z.object({ history: z.number().int().min(0) }).strict(),
    },
    /**
     * A machine's metrics: first the last hour (and the day before it, coarser), then each new
     * sample as it is taken (every second while watched). Nothing is sent by the client.
     */
    'metrics.watch': {
      input: z
        .object({
          id: machineIdSchema,
          /** How far back the first message goes (a sparkline wants a minute); the default: all that is kept. */
          historySeconds: z.number().int().min(0).max(86_400).default(86_400),
        })
        .strict(),
      control: z.object({}).strict(),
      /** paused: why no samples come now (a Xen host that does not answer), null while they do. */
      serverControl: z.object({ samples: z.array(sampleSchema), unmeasured: z.array(z.string()), paused: z.string().nullable() }),
    },
    /**
     * This computer's CPU (in % of one CPU; cores says how many there are) and memory, as metrics.watch
     * sends a machine's, each sample with what every running machine takes of it.
     */
    'metrics.host': {
      input: z.object({}).strict(),
      control: z.object({}).strict(),
      serverControl: z.object({
        samples: z.array(sampleSchema),
        cores: z.number().int().min(1),
        shares: z.array(z.object({ id: machineIdSchema, cpu: z.number(), memory: z.number() })),
      }),
    },
    /**
     * Browser mode: a dropped file goes into Berth's image folder. The client sends the bytes, then
     * { done: true }; the server answers { path } and closes. A stream closed early leaves nothing.
     */
    'images.upload': {
      input: z
        .object({
          name: z.string().min(1).max(255),
          size: z.number().int().min(1).max(16 * 1024 ** 4),
        })
        .strict(),
      control: z.object({ done: z.literal(true) }).strict(),
      serverControl: z.object({ path: z.string() }),
    },
    /**
     * Grows a VM's disk to sizeMiB, stopped or running; then, with the guest agent, the partition and
     * filesystem on it in the guest. Controls from the server are the steps as they go, then
     * { done: true } before it closes. Refused before anything changes: shrinking, read-only disks.
     */
    'drives.grow': {
      input: z.object({ id: machineIdSchema, disk: diskTargetSchema, sizeMiB: z.number({ error: 'Enter a size in MiB' }).int('Use a whole number of MiB').min(1).max(64 * 1024 * 1024, 'At most 64 TiB') }).strict(),
      /** Nothing: a growth that started runs to its end (a half-grown disk is still a good disk). */
      control: z.never(),
      serverControl: z.union([z.object({ steps: z.array(growStepSchema) }), z.object({ done: z.literal(true) })]),
    },
    /**
     * Makes a container root in Berth's containers folder (from a tarball, or with debootstrap). Bytes
     * from the server are the log; controls report progress, then { path } before it closes. The client
     * cancels with { cancel: true } (or by closing): nothing is kept.
     */
    'roots.create': {
      input: z.object({ name: machineNameSchema, source: rootSourceSchema }).strict(),
      control: z.object({ cancel: z.literal(true) }).strict(),
      serverControl: z.union([
        z.object({ phase: z.string(), fraction: z.number().min(0).max(1).nullable() }),
        z.object({ path: z.string() }),
      ]),
    },
  },
} as const

export type Contract = typeof contract
export type MethodName = keyof Contract['methods']
export type EventName = keyof Contract['events']
export type StreamName = keyof Contract['streams']

/** What a caller passes (defaults may be left out). */
export type MethodInput<M extends MethodName> = z.input<Contract['methods'][M]['input']>
/** What a handler receives after validation (defaults filled in). */
export type MethodArgs<M extends MethodName> = z.output<Contract['methods'][M]['input']>
export type MethodOutput<M extends MethodName> = z.output<Contract['methods'][M]['output']>
export type EventPayload<E extends EventName> = z.output<Contract['events'][E]>
export type StreamInput<S extends StreamName> = z.input<Contract['streams'][S]['input']>
export type StreamArgs<S extends StreamName> = z.output<Contract['streams'][S]['input']>
export type StreamControl<S extends StreamName> = z.output<Contract['streams'][S]['control']>
/** What the server may tell the client on a stream besides bytes. */
export type StreamServerControl<S extends StreamName> = z.output<Contract['streams'][S]['serverControl']>
