// `agentlog runner`: its command line (read here, no processes) and its start (src/runner/ does the work).
import { existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { isValidRunnerName } from '../protocol/runner.js'
import { runRunner, type RunnerOptions } from '../runner/runner.js'
import { selectClaude, type ArgsIo } from './args.js'
import { DEFAULTS } from './relay/options.js'
import { readServerOptions, SERVER_OPTIONS } from './server-options.js'
import { UsageError } from './usage-error.js'

export const RUNNER_USAGE = `usage: agentlog runner --server URL [--token T | --token-file F] [--name NAME] --root DIR [--root DIR …] [options]

Runs the Claude Code agents the server asks for (POST /runners/NAME/agents), in directories under the roots,
each through the same relay as \`agentlog connect\`. Holds one outbound WebSocket to the server.

  --server URL          the agentlog server (default ${DEFAULTS.server}; AGENTLOG_SERVER)
  --token T             a runner token (AGENTLOG_TOKEN); --token-file F reads it from a file
  --name NAME           this runner's name (default: the host name; AGENTLOG_RUNNER_NAME)
  --root DIR            a directory agents may run in (and under); repeat for several (required)
  --claude PATH         the Claude Code CLI (default: CLAUDE_BIN, else \`claude\` on PATH)
  --start-timeout-ms N  how long a CLI has to come up (default 50000)
  --stop-grace-ms N     how long a stopped CLI has after SIGTERM before SIGKILL (default 10000)
  --max-restarts N      restarts (with --resume) after a CLI dies, within 10 minutes (default ${DEFAULTS.maxRestarts})
  --no-mcp              do not give the CLIs agentlog's MCP tools (by default each gets SERVER/mcp with the
                        runner's token and --allowedTools mcp__agentlog__*, as \`agentlog connect\` does)
  --verbose             log connections and the CLIs' stderr (AGENTLOG_VERBOSE=1)
  -h, --help            this text`

function count (value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(value)}`)
  return Number(value)
}

/** The runner's options from its command line; 'help' for --help. Needs only files (io), never a process. */
export function parseRunnerArgs (argv: string[], env: NodeJS.ProcessEnv, io: ArgsIo, log: (line: string) => void): Omit<RunnerOptions, 'claudeVersion' | 'agentlogVersion' | 'reaperPath'> | 'help' {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        ...SERVER_OPTIONS,
        name: { type: 'string' },
        root: { type: 'string', multiple: true },
        claude: { type: 'string' },
        'start-timeout-ms': { type: 'string' },
        'stop-grace-ms': { type: 'string' },
        'max-restarts': { type: 'string' },
        'no-mcp': { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help === true) return 'help'
  const host = hostname()
  const name = values.name ?? env.AGENTLOG_RUNNER_NAME ?? host.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64)
  if (!isValidRunnerName(name)) throw new UsageError(`--name must be 1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit, got ${JSON.stringify(name)}`)
  const roots = (values.root ?? []).map(r => resolve(io.cwd, r))
  if (roots.length === 0) throw new UsageError('at least one --root DIR is required')
  for (const root of roots) if (!io.isDirectory(root)) throw new UsageError(`--root ${root} is not a directory`)
  const { server, token } = readServerOptions(values, env, io, DEFAULTS.server)
  const { claudeBin, env: childEnv } = selectClaude(values.claude, env, io)
  return {
    name,
    server,
    token,
    roots,
    host,
    claudeBin,
    env: childEnv,
    startTimeoutMs: count(values['start-timeout-ms'], '--start-timeout-ms', 50000),
    stopGraceMs: count(values['stop-grace-ms'], '--stop-grace-ms', 10000),
    maxRestarts: count(values['max-restarts'], '--max-restarts', DEFAULTS.maxRestarts),
    mcp: values['no-mcp'] !== true,
    verbose: values.verbose === true || env.AGENTLOG_VERBOSE === '1',
    log
  }
}

/** Where the reaper's script is: beside this file in the bundle, else in src/runner/ of the compiled tree. */
function reaperPath (): string | null {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const candidate of [join(here, 'reaper.js'), join(here, '..', 'runner', 'reaper.js')]) {
    if (existsSync(candidate)) return candidate
  }
  return null
}

export async function runnerCommand (argv: string[], env: NodeJS.ProcessEnv, io: ArgsIo, versions: { agentlog: string, claude: (bin: string, env: NodeJS.ProcessEnv) => Promise<string> }): Promise<number> {
  const log = (line: string): void => { process.stderr.write(line + '\n') }
  let parsed
  try {
    parsed = parseRunnerArgs(argv, env, io, log)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    log(`agentlog runner: ${err.message}\n\n${RUNNER_USAGE}`)
    return 2
  }
  if (parsed === 'help') {
    process.stdout.write(RUNNER_USAGE + '\n')
    return 0
  }
  // the process list shows the title instead of the command line, which may hold the token
  process.title = `agentlog runner --name ${parsed.name}`
  const claude = await versions.claude(parsed.claudeBin, parsed.env)
  const reaper = reaperPath()
  if (reaper === null) log('agentlog runner: warning: the reaper script is missing; CLIs outlive a runner killed with -9')
  return await runRunner({ ...parsed, claudeVersion: claude === '' ? null : claude.split('\n')[0], agentlogVersion: versions.agentlog, reaperPath: reaper })
}
