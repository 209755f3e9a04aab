// The layering rules in eslint.config.js catch an upward import: each layer of the main process,
// the renderer and shared/ tried with one that crosses its line, and one that does not.
import { describe, expect, it } from 'vitest'
import { ESLint } from 'eslint'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const eslint = new ESLint({ cwd: root })

async function refusals(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${file}` })
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('layers', () => {
  const upward: [string, string][] = [
    ['electron/main/backends/qemu/x.ts', "import { MachineService } from '../../services/machines'"],
    ['electron/main/backends/qemu/x.ts', "import { createBerthServer } from '../../server'"],
    ['electron/main/hosts/x.ts', "import { XenBackend } from '../backends/xen/xen-backend'"],
    ['electron/main/consoles/x.ts', "import type { Backend } from '../backends/backend'"],
    ['electron/main/os-info/x.ts', "import { QemuBackend } from '../backends/qemu/qemu-backend'"],
    ['electron/main/files/x.ts', "import { MachineService } from '../services/machines'"],
    ['electron/main/services/x.ts', "import { startBrowserServer } from '../transports/browser-server'"],
    ['electron/main/metrics/x.ts', "import { MachineService } from '../services/machines'"],
    ['electron/main/backends/qemu/x.ts', "import { MetricsService } from '../../metrics/metrics-service'"],
    ['renderer/x.ts', "import { paths } from '../electron/main/paths'"],
    ['shared/model/x.ts', "import { readFileSync } from 'node:fs'"],
  ]
  it.each(upward)('%s may not: %s', async (file, code) => {
    expect(await refusals(file, `${code}\nexport const x = 1\n`)).toHaveLength(1)
  })

  const allowed: [string, string][] = [
    ['electron/main/services/x.ts', "import type { Backend } from '../backends/backend'"],
    ['electron/main/metrics/x.ts', "import { hostCounters } from '../backends/host-counters'"],
    ['electron/main/backends/xen/x.ts', "import type { HostConnection } from '../../hosts/connection'"],
    ['electron/main/backends/qemu/x.ts', "import { SerialConsole } from '../../consoles/serial-console'"],
    ['electron/main/backends/qemu/x.ts', "import { isoBootable } from '../../os-info/iso'"],
    ['electron/main/backends/qemu/x.ts', "import { RpcServer } from '../../../../shared/rpc/server'"],
  ]
  it.each(allowed)('%s may: %s', async (file, code) => {
    expect(await refusals(file, `${code}\nexport const x = 1\n`)).toEqual([])
  })
})
