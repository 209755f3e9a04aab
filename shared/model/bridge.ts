// A Linux bridge Berth makes (the Networks page): each part optional, each shown as what it will do.
import { z } from 'zod'
import { interfaceNameSchema, ipv4, ipv6 } from './net'

const plainIpv4 = ipv4.refine((a) => !a.includes('/'), 'Enter an address without a prefix length, e.g. 10.231.150.100')

export const bridgeSpecSchema = z
  .object({
    name: interfaceNameSchema,
    /** The host's address on the bridge, with its prefix (the guests' subnet), e.g. 10.231.150.1/24. */
    address: ipv4.nullable().default(null),
    address6: ipv6.nullable().default(null),
    /** A host interface enslaved to the bridge: guests join the uplink's network; its addresses move to the bridge. */
    uplink: interfaceNameSchema.nullable().default(null),
    /** Guests on the bridge's subnet reach out through this interface, masqueraded (nftables). */
    natUplink: interfaceNameSchema.nullable().default(null),
    /** dnsmasq hands out addresses in this range on the bridge. */
    dhcp: z.object({ from: plainIpv4, to: plainIpv4 }).nullable().default(null),
  })
  .superRefine((spec, ctx) => {
    const withPrefix = spec.address?.includes('/')
    if (spec.natUplink && !withPrefix)
      ctx.addIssue({ code: 'custom', path: ['natUplink'], message: 'NAT needs the bridge address with its prefix (e.g. 10.231.150.1/24): it masquerades that subnet' })
    if (spec.dhcp && !withPrefix)
      ctx.addIssue({ code: 'custom', path: ['dhcp'], message: 'DHCP needs the bridge address with its prefix (e.g. 10.231.150.1/24)' })
    if (spec.uplink && spec.uplink === spec.natUplink)
      ctx.addIssue({ code: 'custom', path: ['natUplink'], message: 'The enslaved uplink cannot also be the NAT uplink' })
    if (spec.uplink === spec.name) ctx.addIssue({ code: 'custom', path: ['uplink'], message: 'A bridge cannot enslave itself' })
  })
export type BridgeSpec = z.infer<typeof bridgeSpecSchema>
export type BridgeSpecInput = z.input<typeof bridgeSpecSchema>

export const bridgeViewSchema = z.object({
  name: z.string(),
  /** Made by Berth (then it can delete it), with what it was made with. */
  spec: bridgeSpecSchema.nullable(),
  up: z.boolean(),
  addresses: z.array(z.string()),
  /** Interfaces enslaved to it now (taps, veths, an uplink). */
  members: z.array(z.string()),
  /** Machines whose definition puts them on it. */
  usedBy: z.array(z.object({ id: z.string(), name: z.string(), kind: z.enum(['qemu', 'nspawn', 'xen']) })),
})
export type BridgeView = z.infer<typeof bridgeViewSchema>
