// The `agentlog` command line (bin/agentlog.js runs the compiled copy): `serve` runs the server, `connect` relays
// a Claude Code CLI to one, `runner` starts agents on request (src/cli/runner.ts).
import { spawn } from 'node:child_process'
import { accessSync, constants, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { packageJson, packageRoot } from '../package-root.js'
import { connect } from './connect.js'
import { parseCommandLine, UsageError, USAGE, type ArgsIo } from './args.js'
import { importCommand } from './import.js'
import { exportCommand } from './export.js'
import { usageCommand } from './usage.js'
import { runnerCommand } from './runner.js'

function version (): string {
  try {
    return packageJson().version
  } catch {
    return 'unknown'
  }
}

export function defaultIo (): ArgsIo {
  return {
    cwd: process.cwd(),
    readFile: (path) => readFileSync(path, 'utf8'),
    isDirectory: (path) => {
      try { return statSync(path).isDirectory() } catch { return false }
    },
    isExecutable: (path) => {
      try {
        accessSync(path, constants.X_OK)
        return statSync(path).isFile()
      } catch {
        return false
      }
    },
    ownBin: join(packageRoot(), 'node_modules', '.bin')
  }
}

/** `claude --version` (or `node cli.js --version`), with a bounded wait. */
function claudeVersion (bin: string, env: NodeJS.ProcessEnv): Promise<string> {
  const [command, argv] = /\.[cm]?js$/.test(bin) ? [process.execPath, [bin, '--version']] : [bin, ['--version']]
  return new Promise((resolve) => {
    const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { out += c })
    child.once('error', (err) => resolve(`cannot run ${bin}: ${err.message}`))
    child.once('close', () => resolve(out.trim()))
  })
}

/** Runs the command line; resolves with the exit status, or null when the command keeps running (serve). */
export async function main (argv: string[], env: NodeJS.ProcessEnv = process.env, io: ArgsIo = defaultIo()): Promise<number | null> {
  if (argv[0] === 'import') return await importCommand(argv.slice(1), env, io)
  if (argv[0] === 'export') return await exportCommand(argv.slice(1), env, io)
  if (argv[0] === 'usage') return await usageCommand(argv.slice(1), env, io)
  if (argv[0] === 'runner') return await runnerCommand(argv.slice(1), env, io, { agentlog: version(), claude: claudeVersion })
  const log = (line: string): void => { process.stderr.write(line + '\n') }
  let parsed
  try {
    parsed = parseCommandLine(argv, env, log, io)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    log(`agentlog: ${err.message}\n\n${USAGE}`)
    return 2
  }
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(USAGE + '\n')
      return 0
    case 'version':
      process.stdout.write(`agentlog ${version()}\n`)
      return 0
    case 'connect-version':
      process.stdout.write(`agentlog ${version()}\n${parsed.claudeBin}: ${await claudeVersion(parsed.claudeBin, parsed.env)}\n`)
      return 0
    case 'serve':
      // the server is its own entry point: it listens, and exits on SIGINT/SIGTERM after a graceful shutdown
      await import('../server.js')
      return null
    case 'connect':
      // the process list shows the title instead of the command line, which held the token
      if (parsed.tokenFromArgv) process.title = `agentlog connect --agent ${parsed.options.agentId}`
      return await connect(parsed.options)
  }
}

// run directly (node src/cli/main.ts in tests, or node dist/src/cli/main.js); bin/agentlog.js calls main()
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const status = await main(process.argv.slice(2))
  if (status !== null) process.exitCode = status
}
