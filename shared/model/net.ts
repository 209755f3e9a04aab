// Addresses and interface names, checked the same way in the renderer, the main process and the helper.
import { z } from 'zod'

const octet = '(25[0-5]|2[0-4]\\d|1?\\d?\\d)'
const ipv4Re = new RegExp(`^${octet}(\\.${octet}){3}(/([0-9]|[12][0-9]|3[0-2]))?$`)
// Full, compressed and mixed IPv6 forms; the kernel has the last word, this catches typos.
const ipv6Re = /^(?=.*:)[0-9A-Fa-f:.]{2,45}(\/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?$/

/** An IPv4 address, optionally with a prefix length. */
export const ipv4 = z
  .string()
  .trim()
  .regex(ipv4Re, 'Enter an IPv4 address like 10.231.136.1, optionally with a prefix length (/24)')
/** An IPv6 address, optionally with a prefix length. */
export const ipv6 = z
  .string()
  .trim()
  .regex(ipv6Re, 'Enter an IPv6 address like fc00::1, optionally with a prefix length (/64)')
  .refine((a) => (a.split('/')[0]!.match(/::/g) ?? []).length <= 1, 'An IPv6 address can use :: only once')

/** Linux interface names: at most 15 bytes, no slash, colon or whitespace. */
export const interfaceNameSchema = z
  .string()
  .trim()
  .min(1, 'Enter an interface name')
  .max(15, 'Interface names have at most 15 characters')
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'Use letters, digits, dots, dashes and underscores')
