// One JSON file per machine. Corrupt files are reported with their path and reason; the rest load.
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { BerthError } from '../../../shared/errors'
import {
  machineDefinitionSchema,
  type BrokenDefinition,
  type MachineDefinition,
  type MachineSpec,
} from '../../../shared/model/machine'
import { writeFileAtomic } from './atomic-write'

export interface LoadResult {
  definitions: MachineDefinition[]
  broken: BrokenDefinition[]
}

export function newMachineId(): string {
  // 12 characters of [a-z0-9]: short enough for unix socket paths, long enough to never collide.
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('')
}

export class MachineStore {
  constructor(private readonly dir: string) {}

  fileOf(id: string): string {
    return join(this.dir, `${id}.json`)
  }

  async load(): Promise<LoadResult> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const result: LoadResult = { definitions: [], broken: [] }
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()
    for (const name of names) {
      const file = join(this.dir, name)
      try {
        const definition = parseDefinition(await readFile(file, 'utf8'))
        if (`${definition.id}.json` !== name) throw new Error(`its id ${definition.id} does not match the file name`)
        result.definitions.push(definition)
      } catch (error) {
        result.broken.push({ file, reason: error instanceof Error ? error.message : String(error) })
      }
    }
    return result
  }

  async save(definition: MachineDefinition): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    try {
      await writeFileAtomic(this.fileOf(definition.id), JSON.stringify(definition, null, 2) + '\n')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      const why =
        code === 'ENOSPC' || code === 'EDQUOT'
          ? `the disk holding ${this.dir} is full. The previous definition is kept; free some space and try again`
          : error instanceof Error
            ? error.message
            : String(error)
      throw new BerthError('failed', `Could not save the definition of ${definition.spec.name}: ${why}`)
    }
  }

  async remove(id: string): Promise<void> {
    await unlink(this.fileOf(id)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
  }

  static define(spec: MachineSpec): MachineDefinition {
    return { version: 1, id: newMachineId(), createdAt: new Date().toISOString(), spec }
  }
}

function parseDefinition(text: string): MachineDefinition {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new Error(`not valid JSON (${error instanceof Error ? error.message : error})`)
  }
  const result = machineDefinitionSchema.safeParse(json)
  if (!result.success) {
    const issue = result.error.issues[0]!
    throw new Error(`${issue.path.join('.') || 'file'}: ${issue.message}`)
  }
  return result.data
}
