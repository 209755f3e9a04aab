// Run by the boot unit (services/boot-start.ts): starts the containers marked autoStart, as Berth does
// when it starts, says how each start ended, and exits. The containers keep running without it.
import { createBerthServer } from './server'

async function main(): Promise<number> {
  const berth = await createBerthServer({ log: (line) => console.error(`berth: ${line}`) })
  try {
    const results = await berth.machines.autoStarts
    for (const { name, error } of results) console.log(error ? `${name}: not started: ${error}` : `${name}: running`)
    if (!results.length) console.log('No stopped container is marked autoStart.')
    return results.some((r) => r.error) ? 1 : 0
  } finally {
    berth.dispose()
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`berth autostart: ${error.message}`)
    process.exit(1)
  },
)
