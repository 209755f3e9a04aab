// The person's SSH public keys (~/.ssh/*.pub), offered for a cloud image's first boot.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sshPublicKeySchema } from '../../../shared/model/cloud-init'

export async function sshPublicKeys(home: string): Promise<{ file: string; key: string }[]> {
  const dir = join(home, '.ssh')
  const names = await readdir(dir).catch(() => [] as string[])
  const keys = []
  for (const name of names.filter((n) => n.endsWith('.pub')).sort()) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => '')
    const line = text.split('\n')[0]!.trim()
    if (sshPublicKeySchema.safeParse(line).success) keys.push({ file: join(dir, name), key: line })
  }
  return keys
}
