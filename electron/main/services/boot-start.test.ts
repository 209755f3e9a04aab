import { describe, expect, it } from 'vitest'
import { bootUnitText } from './boot-start'

describe('the boot unit of autoStart containers', () => {
  it('quotes every word as systemd reads it: spaces kept, quotes and backslashes escaped, $ and % doubled', () => {
    const unit = bootUnitText({ argv: ['/opt/my node/node', '/x/autostart.cjs'], env: { BERTH_HOME: '/home/a "b"\\c $HOME 100%' } }, 180)
    expect(unit).toContain('ExecStart="/opt/my node/node" "/x/autostart.cjs"\n')
    expect(unit).toContain('Environment="BERTH_HOME=/home/a \\"b\\"\\\\c $$HOME 100%%"\n')
    expect(unit).toMatch(/^Type=oneshot$/m)
    expect(unit).toMatch(/^TimeoutStartSec=180$/m)
    expect(unit).toMatch(/^WantedBy=default.target$/m)
  })
})
