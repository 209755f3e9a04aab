import { z } from 'zod'
import { absolutePath } from './zod-fields'

/**
 * qemu-vm.nix's bios / useEFIBoot / efiVars: SeaBIOS (or another bios.bin), or UEFI (OVMF) with a
 * per-VM copy of the variable store made from the firmware's template on first start.
 */
export const firmwareSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('bios'), file: absolutePath.optional() }),
  z.object({ kind: z.literal('efi'), secureBoot: z.boolean().default(false) }),
])
export type Firmware = z.infer<typeof firmwareSchema>

/** What UEFI firmware the host has, for the wizard to offer (or say plainly that none is there). */
export const hostFirmwareSchema = z.object({
  efi: z.boolean(),
  secureBoot: z.boolean(),
  note: z.string(),
})
