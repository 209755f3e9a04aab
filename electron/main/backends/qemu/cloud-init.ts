// cloud-init's NoCloud data source: a small ISO labelled cidata with meta-data and user-data, which a
// cloud image reads at its first boot (hostname, user, password hash, SSH keys). Berth writes both
// files itself (JSON, which YAML reads as it is, so no value can break out of its field) and makes the
// ISO with xorriso; the person's own user-data goes in unchanged instead when given.
import { createHash } from 'node:crypto'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CloudInit } from '../../../../shared/model/cloud-init'
import { exec } from '../../exec'

const XORRISO = '/usr/bin/xorriso'
const OPENSSL = '/usr/bin/openssl'

export function seedFiles(machineId: string, config: CloudInit): { 'meta-data': string; 'user-data': string } {
  const userData =
    config.userData ??
    `#cloud-config\n${JSON.stringify(
      {
        hostname: config.hostname,
        manage_etc_hosts: true,
        users: [
          {
            name: config.user,
            groups: ['sudo'],
            sudo: 'ALL=(ALL) NOPASSWD:ALL',
            shell: '/bin/bash',
            lock_passwd: config.passwordHash === null,
            ...(config.passwordHash ? { passwd: config.passwordHash } : {}),
            ssh_authorized_keys: config.sshKeys,
          },
        ],
        ssh_pwauth: config.passwordHash !== null,
      },
      null,
      2,
    )}\n`
  // A new instance id when the settings change: cloud-init applies them again (once per instance).
  const instance = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12)
  const metaData = `${JSON.stringify({ 'instance-id': `berth-${machineId}-${instance}`, 'local-hostname': config.hostname }, null, 2)}\n`
  return { 'meta-data': metaData, 'user-data': userData }
}

/** Writes the seed ISO (whole or not at all) at path. */
export async function writeSeed(path: string, machineId: string, config: CloudInit): Promise<void> {
  const dir = `${path}.d`
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true, mode: 0o700 })
  try {
    for (const [name, text] of Object.entries(seedFiles(machineId, config))) await writeFile(join(dir, name), text, { mode: 0o600 })
    await exec([XORRISO, '-as', 'mkisofs', '-quiet', '-volid', 'cidata', '-joliet', '-rock', '-output', `${path}.new`, dir], { timeoutMs: 60_000 })
    await rename(`${path}.new`, path)
  } finally {
    await rm(dir, { recursive: true, force: true })
    await rm(`${path}.new`, { force: true })
  }
}

/** A password as the SHA-512 crypt hash cloud-init sets; the password goes to openssl on stdin, never in argv. */
export async function hashPassword(password: string): Promise<string> {
  const { stdout } = await exec([OPENSSL, 'passwd', '-6', '-stdin'], { input: `${password}\n`, timeoutMs: 10_000 })
  return stdout.trim()
}
