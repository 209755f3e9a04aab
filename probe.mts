import { bootXenHost } from './electron/main/testing/xen-host'
import { SshConnection } from './electron/main/hosts/ssh-connection'
const xen = await bootXenHost()
try {
  const c = new SshConnection('t', { address: '127.0.0.1', port: xen.port, user: 'root', auth: { kind: 'key', keyFile: xen.clientKey } }, { algorithm: '', fingerprint: xen.fingerprint })
  const bad: string[] = []
  const t0 = Date.now()
  for (let i = 0; i < 60; i++) {
    const rs = await Promise.allSettled([c.run(['xl', 'list']), c.run(['xl', 'info']), c.run(['pidof', 'xenstored']), c.run(['cat', '/proc/xen/capabilities']), c.run(['pidof', 'xenconsoled'])])
    for (const r of rs) {
      if (r.status === 'rejected') bad.push(`rejected: ${r.reason.message}`)
      else if (r.value.code !== 0) bad.push(`code ${r.value.code}: ${r.value.stderr.slice(0, 200)}`)
    }
  }
  console.log('runs', 300, 'bad', bad.length, 'secs', (Date.now() - t0) / 1000)
  console.log(bad.slice(0, 10).join('\n'))
  if (bad.length) console.log(xen.output().slice(-3000))
  c.dispose()
} finally { await xen.stop() }
