// The host readiness page: what each backend needs and whether this host has it.
import { z } from 'zod'

/** Kernel modules Berth may load (containers.nix and xen-dom0.nix name these); the helper allows only these. */
export const allowedModuleNames = ['bridge', 'macvlan', 'tap', 'tun', 'veth', 'br_netfilter', 'nf_nat', 'loop', 'xen-netback', 'xen-blkback'] as const

export const readinessFixSchema = z.discriminatedUnion('kind', [
  /** Berth can do it (through the privileged helper). */
  z.object({ kind: z.literal('load-module'), module: z.string(), label: z.string() }),
  /** What a person would run; Berth does not. */
  z.object({ kind: z.literal('command'), command: z.string() }),
])

export const readinessCheckSchema = z.object({
  id: z.string(),
  area: z.enum(['QEMU', 'nspawn', 'Networking', 'Xen']),
  title: z.string(),
  status: z.enum(['ok', 'warning', 'missing', 'info']),
  detail: z.string(),
  fix: readinessFixSchema.nullable(),
})
export type ReadinessCheck = z.infer<typeof readinessCheckSchema>
