import { z } from 'zod'
import { interfaceNameSchema } from './net'

const port = z.number({ error: 'Enter a port number' }).int('Use a whole number').min(1, 'Ports start at 1').max(65535, 'Ports end at 65535')
const ipv4 = z
  .string()
  .trim()
  .refine((a) => a === '' || /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(a), 'Enter an IPv4 address like 127.0.0.1 (QEMU forwards IPv4 only)')

/** The network card models a guest may see (qemu.networkingOptions' -device): virtio, or emulated Intel and Realtek cards for systems without virtio drivers. */
export const nicModels = ['virtio', 'e1000', 'e1000e', 'rtl8139'] as const

/** qemu-vm.nix's virtualisation.forwardPorts entry, with the module's assertions. */
export const forwardPortSchema = z
  .object({
    /** host: traffic to the host port reaches the guest port; guest: the other way round. */
    from: z.enum(['host', 'guest']).default('host'),
    proto: z.enum(['tcp', 'udp']).default('tcp'),
    host: z.object({ address: ipv4.default(''), port }),
    guest: z.object({ address: ipv4.default(''), port }),
  })
  .superRefine((rule, ctx) => {
    if (rule.from === 'guest' && rule.proto !== 'tcp')
      ctx.addIssue({ code: 'custom', path: ['proto'], message: 'Guest forwarding supports only TCP connections' })
    if (rule.from === 'guest' && !rule.guest.address.startsWith('10.0.2.'))
      ctx.addIssue({ code: 'custom', path: ['guest', 'address'], message: 'The address must be in the default VLAN (10.0.2.0/24)' })
  })
export type ForwardPort = z.infer<typeof forwardPortSchema>

/** User-mode networking (SLiRP NAT), as qemu-vm.nix sets up by default; null: no network card. */
export const networkSchema = z
  .object({
    forwardPorts: z.array(forwardPortSchema).max(64, 'At most 64 forwarded ports').default([]),
    /** On this host bridge (through a tap Berth makes and removes with the VM) instead of user-mode NAT. */
    bridge: interfaceNameSchema.nullable().default(null),
  })
  .superRefine((network, ctx) => {
    if (network.bridge && network.forwardPorts.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['forwardPorts'],
        message: 'Forwarded ports belong to user-mode NAT: on a bridge the guest is reached at its own address',
      })
  })
