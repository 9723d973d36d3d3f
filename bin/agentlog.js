#!/usr/bin/env node
// The `agentlog` command: runs the command line as bundled in dist/bundle/ (`npm run build` makes it).
import { existsSync } from 'node:fs'

const entry = new URL('../dist/bundle/main.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write(`agentlog: ${entry.pathname} is missing; run \`npm run build\` in ${new URL('..', import.meta.url).pathname} first\n`)
  process.exitCode = 1
} else {
  const { main } = await import(entry.href)
  const status = await main(process.argv.slice(2))
  // null: the command keeps running (serve) and sets its own exit status
  if (status !== null) process.exitCode = status
}
