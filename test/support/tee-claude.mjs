// A Claude Code CLI that also writes every stdout line to USAGE_TEE (CLAUDE_BIN for `agentlog connect` in tests that
// compare what the CLI reported with what the server stored). USAGE_REAL_CLAUDE: the CLI (a .js file or a binary).
import { spawn } from 'node:child_process'
import { appendFileSync } from 'node:fs'

const bin = process.env.USAGE_REAL_CLAUDE
const out = process.env.USAGE_TEE
const [command, args] = bin.endsWith('.js') ? [process.execPath, [bin, ...process.argv.slice(2)]] : [bin, process.argv.slice(2)]
const child = spawn(command, args, { stdio: ['inherit', 'pipe', 'inherit'] })
child.stdout.on('data', (chunk) => {
  appendFileSync(out, chunk)
  process.stdout.write(chunk)
})
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => { process.exitCode = code ?? (signal === null ? 1 : 128) })
