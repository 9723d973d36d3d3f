// The `agentlog` command line (bin/agentlog.js runs the compiled copy): today one command, `connect`.
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { connect, DEFAULTS, agentUrl, type ConnectOptions } from './connect.js'
import { importCommand } from './import.js'
import { exportCommand } from './export.js'

export const USAGE = `usage: agentlog connect --agent ID [--server ws://127.0.0.1:7700] [options] [-- extra claude args]

Starts Claude Code in stdio stream-json mode and relays it to an agentlog server as agent ID.

  --agent ID            the agent id (required; AGENTLOG_AGENT)
  --server URL          the agentlog server (default ${DEFAULTS.server}; AGENTLOG_SERVER)
  --buffer-lines N      lines held while disconnected, oldest dropped beyond (default ${DEFAULTS.bufferLines})
  --replay-lines N      last sent lines re-sent after a reconnect (default ${DEFAULTS.replayLines})
  --verbose             log connections, restarts and counts to stderr (AGENTLOG_VERBOSE=1)
  -h, --help            this text
  --version             agentlog's version

The CLI is CLAUDE_BIN if set (an executable, or a .js file run with this Node), else \`claude\` on PATH.
It exits with the CLI's exit status; 1 if the server refuses the agent for good (close 4001, 4003, 1002).`

export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

function count (value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${name} must be a whole number of at least ${min}, got ${JSON.stringify(value)}`)
  return Number(value)
}

export type Parsed =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'connect', options: ConnectOptions }

/** argv after the program name, e.g. ['connect', '--agent', 'a1', '--', '--model', 'opus']. */
export function parseCommandLine (argv: string[], env: NodeJS.ProcessEnv, log: (line: string) => void): Parsed {
  const cut = argv.indexOf('--')
  const own = cut === -1 ? argv : argv.slice(0, cut)
  const claudeArgs = cut === -1 ? [] : argv.slice(cut + 1)
  let parsed
  try {
    parsed = parseArgs({
      args: own,
      allowPositionals: true,
      options: {
        agent: { type: 'string' },
        server: { type: 'string' },
        'buffer-lines': { type: 'string' },
        'replay-lines': { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' }
      }
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help === true) return { kind: 'help' }
  if (values.version === true) return { kind: 'version' }
  if (positionals.length !== 1 || positionals[0] !== 'connect') {
    throw new UsageError(positionals.length === 0 ? 'a command is required' : `unknown command ${JSON.stringify(positionals.join(' '))}`)
  }
  const agentId = values.agent ?? env.AGENTLOG_AGENT ?? ''
  if (agentId.trim() === '') throw new UsageError('--agent ID is required')
  const server = values.server ?? env.AGENTLOG_SERVER ?? DEFAULTS.server
  try {
    agentUrl(server, agentId)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const claudeBin = env.CLAUDE_BIN !== undefined && env.CLAUDE_BIN.trim() !== '' ? env.CLAUDE_BIN : 'claude'
  return {
    kind: 'connect',
    options: {
      agentId,
      server,
      claudeBin,
      claudeArgs,
      bufferLines: count(values['buffer-lines'], '--buffer-lines', DEFAULTS.bufferLines, 1),
      replayLines: count(values['replay-lines'], '--replay-lines', DEFAULTS.replayLines, 0),
      backoffInitialMs: DEFAULTS.backoffInitialMs,
      backoffMaxMs: DEFAULTS.backoffMaxMs,
      drainOnExitMs: DEFAULTS.drainOnExitMs,
      verbose: values.verbose === true || env.AGENTLOG_VERBOSE === '1',
      env,
      cwd: process.cwd(),
      log,
      forwardSignals: true
    }
  }
}

function version (): string {
  // src/cli/ in the repository, dist/src/cli/ once built
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8'))
      if (pkg.name === 'agentlog') return String(pkg.version)
    } catch {}
  }
  return 'unknown'
}

/** Runs the command line; resolves with the exit status. */
export async function main (argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv[0] === 'import') return await importCommand(argv.slice(1), env)
  if (argv[0] === 'export') return await exportCommand(argv.slice(1), env)
  const log = (line: string): void => { process.stderr.write(line + '\n') }
  let parsed: Parsed
  try {
    parsed = parseCommandLine(argv, env, log)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    log(`agentlog: ${err.message}\n\n${USAGE}`)
    return 2
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (parsed.kind === 'version') {
    process.stdout.write(version() + '\n')
    return 0
  }
  return await connect(parsed.options)
}

// run directly (node src/cli/main.ts in tests, or node dist/src/cli/main.js); bin/agentlog.js calls main()
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2))
}
