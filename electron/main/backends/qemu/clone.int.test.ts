// Clones of the real test guest: a full copy and a linked clone of a stopped VM boot side by side with
// their own MACs and vlan addresses, reach each other and keep their own disks; the original, their
// base, neither starts nor loses its disk while a linked clone uses it; a running VM is not cloned.
import { describe, expect, it } from 'vitest'
import { useHarness } from '../../testing/use-harness'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import type { QemuSpec } from '../../../../shared/model/machine'
import { tinyGuestSpec, waitForState, watchConsole } from '../../testing/harness'

const t = useHarness()

/** Boots the VM, mounts its disk, takes its vlan address by DHCP; a way to run commands in it. */
async function boot(id: string) {
  await t.h.client.call('machines.start', { id })
  const guest = await watchConsole(t.h.client, id)
  await guest.waitFor(/guest# /, 60_000)
  await guest.run(
    `printf '#!/bin/sh\\n[ "$1" = bound ] && ip addr add $ip/24 dev $interface\\nexit 0\\n' > /tmp/dhcp; chmod +x /tmp/dhcp; ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 -s /tmp/dhcp; mkdir -p /mnt; mount /dev/vda /mnt`,
  )
  return (command: string) => guest.run(command)
}

const mac = async (run: (command: string) => Promise<string>) => /MAC=([0-9a-f:]{17})/.exec(await run('echo MAC=$(cat /sys/class/net/eth0/address)'))![1]!

describe('clones of VMs (real QEMU)', () => {
  it('a full copy and a linked clone boot side by side with their own MACs, vlan addresses and disks', async () => {
    const raw = join(t.files, 'origin.raw')
    execFileSync('truncate', ['-s', '64M', raw])
    execFileSync('mkfs.ext4', ['-q', '-F', raw])
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(t.files, 'origin.qcow2')])
    const origin = await t.h.client.call('machines.create', {
      spec: tinyGuestSpec('origin', { network: null, vlans: [9], vlanNumber: 1, disk: { image: join(t.files, 'origin.qcow2'), sizeMiB: 64 } }),
    })
    let run = await boot(origin.id)
    await run('echo from-origin > /mnt/marker; sync')
    const refused = await t.h.client.call('machines.clone', { id: origin.id, name: 'hot' }).then(() => null, (e: BerthError) => e.message)
    expect(refused).toBe("Stop origin before cloning it: a running machine's disks change while they are copied")
    await t.h.client.call('machines.stop', { id: origin.id, force: true })
    await waitForState(t.h.client, origin.id, 'stopped')

    const full = await t.h.client.call('machines.clone', { id: origin.id, name: 'full-copy' })
    const linked = await t.h.client.call('machines.clone', { id: origin.id, name: 'linked-copy', linked: true })
    const fullSpec = full.spec as QemuSpec
    const linkedSpec = linked.spec as QemuSpec
    expect([fullSpec.vlanNumber, linkedSpec.vlanNumber]).toEqual([2, 3])
    expect(fullSpec.disk).toMatchObject({ format: 'qcow2', backing: [] })
    expect(existsSync(join(t.h.home, 'data', 'images', `${full.id}.qcow2`))).toBe(true)
    expect(linkedSpec.disk?.backing).toEqual([{ file: join(t.files, 'origin.qcow2'), format: 'qcow2' }])
    const nameTaken = await t.h.client.call('machines.clone', { id: origin.id, name: 'full-copy' }).then(() => null, (e: BerthError) => e.details)
    expect(nameTaken).toEqual({ fields: { name: 'A machine named full-copy already exists: choose another name' } })

    // The original is the linked clone's base now: it does not start (its writes would change what the clone reads).
    const base = await t.h.client.call('machines.start', { id: origin.id }).then(() => null, (e: BerthError) => e.message)
    expect(base).toBe(
      "origin's disks are the base of the linked clone linked-copy: origin cannot start while linked-copy uses them, as that would change what linked-copy reads. Delete it, or make full copies instead",
    )

    // The two clones side by side on vlan 9: each has its own MAC and address, reaches the other and
    // has the original's data; the linked one reads it through its overlay.
    const runFull = await boot(full.id)
    const runLinked = await boot(linked.id)
    expect(await runFull('cat /mnt/marker')).toContain('from-origin')
    expect(await runLinked('cat /mnt/marker')).toContain('from-origin')
    expect(await mac(runFull)).not.toBe(await mac(runLinked))
    expect(await runLinked('ping -c 2 -W 3 192.168.9.2')).toMatch(/2 packets transmitted, [12] packets received/)
    await runFull('echo from-full > /mnt/marker; sync')
    await runLinked('echo from-linked > /mnt/marker; sync')
    for (const id of [full.id, linked.id]) await t.h.client.call('machines.stop', { id, force: true })
    for (const id of [full.id, linked.id]) await waitForState(t.h.client, id, 'stopped')

    // Without the linked clone the original starts again, its disk as it left it.
    await t.h.client.call('machines.remove', { id: linked.id, deleteImages: true })
    await t.h.client.call('snapshots.take', { id: origin.id, name: 'clean', description: '' })
    run = await boot(origin.id)
    expect(await run('cat /mnt/marker')).toContain('from-origin')
    await run('echo later > /mnt/marker; sync')
    await t.h.client.call('machines.stop', { id: origin.id, force: true })
    await waitForState(t.h.client, origin.id, 'stopped')

    // A clone of a snapshot has the disk as the snapshot kept it, not as it is now; it is a full copy.
    const linkedFromSnapshot = await t.h.client
      .call('machines.clone', { id: origin.id, name: 'nope', linked: true, snapshot: 'clean' })
      .then(() => null, (e: BerthError) => e.message)
    expect(linkedFromSnapshot).toBe('A clone of a snapshot is a full copy: linked clones build on the disks as they are now')
    const fromSnapshot = await t.h.client.call('machines.clone', { id: origin.id, name: 'from-clean', snapshot: 'clean' })
    expect((fromSnapshot.spec as QemuSpec).disk?.backing).toEqual([])
    const runSnapshot = await boot(fromSnapshot.id)
    expect(await runSnapshot('cat /mnt/marker')).toMatch(/\nfrom-origin/)
    await t.h.client.call('machines.stop', { id: fromSnapshot.id, force: true })
    await waitForState(t.h.client, fromSnapshot.id, 'stopped')
  })

  it('the disk Berth made for a VM is kept while a linked clone uses it', async () => {
    const base = await t.h.client.call('machines.create', { spec: tinyGuestSpec('base', { disk: { sizeMiB: 32 } }) })
    await t.h.client.call('machines.start', { id: base.id })
    await t.h.client.call('machines.stop', { id: base.id, force: true })
    await waitForState(t.h.client, base.id, 'stopped')
    const image = join(t.h.home, 'data', 'images', `${base.id}.qcow2`)
    expect(existsSync(image)).toBe(true)
    const clone = await t.h.client.call('machines.clone', { id: base.id, name: 'on-base', linked: true })
    const refused = await t.h.client.call('machines.remove', { id: base.id, deleteImages: true }).then(() => null, (e: BerthError) => e.message)
    expect(refused).toBe("base's disks are the base of the linked clone on-base: delete it first, or delete base and keep its disks")
    expect(existsSync(image)).toBe(true)
    await t.h.client.call('machines.remove', { id: clone.id, deleteImages: true })
    expect(existsSync(join(t.h.home, 'data', 'images', `${clone.id}.qcow2`))).toBe(false)
    await t.h.client.call('machines.remove', { id: base.id, deleteImages: true })
    expect(existsSync(image)).toBe(false)
  })
})
