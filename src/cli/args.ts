// The `agentlog` command line, read into what to run: no processes, no sockets; files and PATH only through `io`.
import { isAbsolute, join, resolve, delimiter } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULTS, agentUrl, type ConnectOptions } from './relay/options.js'
import { readServerOptions, SERVER_OPTIONS } from './server-options.js'
import { UsageError } from './usage-error.js'

export { UsageError }

export const USAGE = `usage: agentlog serve
       agentlog connect --agent ID [--server ws://127.0.0.1:7700] [--token T | --token-file F] [options] [-- extra claude args]
       agentlog runner --server URL [--token T | --token-file F] [--name NAME] --root DIR [--root DIR …]

serve     runs the agentlog server (configured by environment variables, see the README; same as npm start)
connect   starts Claude Code in stdio stream-json mode and relays it to an agentlog server as agent ID
runner    starts, stops and resumes agents on this machine when the server asks (agentlog runner --help)

connect options:
  --agent ID            the agent id (required; AGENTLOG_AGENT)
  --server URL          the agentlog server (default ${DEFAULTS.server}; AGENTLOG_SERVER)
  --token T             the agent token, sent as Authorization: Bearer (AGENTLOG_TOKEN)
  --token-file F        read the token from file F (keeps it out of the process list and shell history)
  --cwd DIR             the agent's working directory (default: the current directory)
  --claude PATH         the Claude Code CLI to run (default: CLAUDE_BIN, else \`claude\` on PATH)
  --max-restarts N      restarts (with --resume) after the CLI dies, within ${DEFAULTS.restartWindowMs / 60000} minutes (default ${DEFAULTS.maxRestarts}; 0: never)
  --buffer-lines N      lines held while disconnected, oldest dropped beyond (default ${DEFAULTS.bufferLines})
  --replay-lines N      last sent lines re-sent after a reconnect (default ${DEFAULTS.replayLines})
  --no-mcp              do not give the CLI agentlog's MCP tools (by default it gets SERVER/mcp with the
                        agent's token, and --allowedTools mcp__agentlog__*: search, list_agents, list_sessions,
                        get_events, usage)
  --verbose             log connections, restarts and counts to stderr (AGENTLOG_VERBOSE=1)
  --version             agentlog's version and the CLI's (\`claude --version\`)
  -h, --help            this text

The CLI path may be an executable or a .js file (run with this Node). \`claude\` is looked up on PATH
without agentlog's own node_modules/.bin, so a checkout's pinned test copy is never picked by accident.
connect exits with the CLI's exit status; 1 if the server refuses the agent or its token (close 4001,
4003, 1002, or HTTP 401/403), or if the CLI keeps dying (more than --max-restarts in ${DEFAULTS.restartWindowMs / 60000} minutes).`

/** What the command line may look at: files and the file system, never a process or the network. */
export interface ArgsIo {
  cwd: string
  readFile: (path: string) => string
  isDirectory: (path: string) => boolean
  isExecutable: (path: string) => boolean
  /** agentlog's own node_modules/.bin (npx and npm scripts put it first on PATH). */
  ownBin: string
}

export type Parsed =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'serve' }
  | { kind: 'connect-version', claudeBin: string, env: NodeJS.ProcessEnv }
  | { kind: 'connect', options: ConnectOptions, tokenFromArgv: boolean }

function count (value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${name} must be a whole number of at least ${min}, got ${JSON.stringify(value)}`)
  return Number(value)
}

/** PATH without agentlog's own node_modules/.bin. */
export function pathWithout (path: string, ownBin: string): string {
  const own = resolve(ownBin)
  return path.split(delimiter).filter(dir => dir !== '' && resolve(dir) !== own).join(delimiter)
}

/** The first executable `name` on PATH, or null. */
export function findOnPath (name: string, path: string, isExecutable: (path: string) => boolean): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    if (isExecutable(candidate)) return candidate
  }
  return null
}

/**
 * Which CLI runs and with which environment: --claude, else CLAUDE_BIN, else `claude` on PATH (without agentlog's
 * own node_modules/.bin). The CLI's environment carries that PATH and never the agent token.
 */
export function selectClaude (flag: string | undefined, env: NodeJS.ProcessEnv, io: ArgsIo): { claudeBin: string, env: NodeJS.ProcessEnv } {
  const childEnv: NodeJS.ProcessEnv = { ...env, PATH: pathWithout(env.PATH ?? '', io.ownBin) }
  delete childEnv.AGENTLOG_TOKEN
  const chosen = flag ?? (env.CLAUDE_BIN !== undefined && env.CLAUDE_BIN.trim() !== '' ? env.CLAUDE_BIN : undefined)
  if (chosen !== undefined) return { claudeBin: isAbsolute(chosen) || !chosen.includes('/') ? chosen : resolve(io.cwd, chosen), env: childEnv }
  const found = findOnPath('claude', childEnv.PATH ?? '', io.isExecutable)
  if (found === null) {
    throw new UsageError('`claude` is not on PATH (agentlog\'s own node_modules/.bin is not searched): install Claude Code, or say which CLI to run with --claude PATH or CLAUDE_BIN')
  }
  return { claudeBin: found, env: childEnv }
}

/** argv after the program name, e.g. ['connect', '--agent', 'a1', '--', '--model', 'opus']. */
export function parseCommandLine (argv: string[], env: NodeJS.ProcessEnv, log: (line: string) => void, io: ArgsIo): Parsed {
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
        ...SERVER_OPTIONS,
        cwd: { type: 'string' },
        claude: { type: 'string' },
        'max-restarts': { type: 'string' },
        'buffer-lines': { type: 'string' },
        'replay-lines': { type: 'string' },
        verbose: { type: 'boolean' },
        'no-mcp': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' }
      }
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help === true) return { kind: 'help' }
  const command = positionals.join(' ')
  if (positionals.length === 0 && values.version === true) return { kind: 'version' }
  if (command === 'serve') return { kind: 'serve' }
  if (command !== 'connect') {
    throw new UsageError(positionals.length === 0 ? 'a command is required' : `unknown command ${JSON.stringify(command)}`)
  }
  if (values.version === true) {
    const { claudeBin, env: childEnv } = selectClaude(values.claude, env, io)
    return { kind: 'connect-version', claudeBin, env: childEnv }
  }
  const agentId = values.agent ?? env.AGENTLOG_AGENT ?? ''
  if (agentId.trim() === '') throw new UsageError('--agent ID is required')
  const { server, token, tokenFromArgv } = readServerOptions(values, env, io, DEFAULTS.server)
  try {
    agentUrl(server, agentId)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const cwd = values.cwd === undefined ? io.cwd : resolve(io.cwd, values.cwd)
  if (!io.isDirectory(cwd)) throw new UsageError(`--cwd ${cwd} is not a directory`)
  const bufferLines = count(values['buffer-lines'], '--buffer-lines', DEFAULTS.bufferLines, 1)
  const replayLines = count(values['replay-lines'], '--replay-lines', DEFAULTS.replayLines, 0)
  const maxRestarts = count(values['max-restarts'], '--max-restarts', DEFAULTS.maxRestarts, 0)
  const { claudeBin, env: childEnv } = selectClaude(values.claude, env, io)
  return {
    kind: 'connect',
    tokenFromArgv,
    options: {
      agentId,
      server,
      token,
      claudeBin,
      claudeArgs,
      mcp: values['no-mcp'] !== true,
      bufferLines,
      replayLines,
      maxRestarts,
      restartWindowMs: DEFAULTS.restartWindowMs,
      restartDelayMs: DEFAULTS.restartDelayMs,
      restartMaxDelayMs: DEFAULTS.restartMaxDelayMs,
      backoffInitialMs: DEFAULTS.backoffInitialMs,
      backoffMaxMs: DEFAULTS.backoffMaxMs,
      drainOnExitMs: DEFAULTS.drainOnExitMs,
      verbose: values.verbose === true || env.AGENTLOG_VERBOSE === '1',
      env: childEnv,
      cwd,
      log,
      forwardSignals: true
    }
  }
}
