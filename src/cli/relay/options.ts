// What `agentlog connect` is told to do (read from the command line by src/cli/args.ts), and its defaults.

export interface ConnectOptions {
  agentId: string
  /** ws://host:port (http:// works too); the agent socket is SERVER/ws/AGENT. */
  server: string
  /** The agent token, sent as `Authorization: Bearer` on every connection; null: none. */
  token: string | null
  /** `claude` (looked up on PATH), a path to an executable, or a .js/.mjs file run with this Node. */
  claudeBin: string
  /** Extra arguments for the CLI, after the stdio flags. */
  claudeArgs: string[]
  /**
   * Hand the CLI the server's MCP endpoint (SERVER/mcp with this token) and allow its tools; false: --no-mcp.
   * Absent means on, so every relay (connect, the runner) gives its agent the fleet's history.
   */
  mcp?: boolean
  /** Lines held while disconnected; beyond this the oldest are dropped. */
  bufferLines: number
  /** How many of the last sent lines are re-sent after a reconnect. */
  replayLines: number
  /** Restarts after the CLI dies, within restartWindowMs; 0: never. */
  maxRestarts: number
  restartWindowMs: number
  /** The first restart waits this long, each further one twice as long, up to restartMaxDelayMs. */
  restartDelayMs: number
  restartMaxDelayMs: number
  backoffInitialMs: number
  backoffMaxMs: number
  /** After the CLI exits with lines still held, how long to keep trying to deliver them. */
  drainOnExitMs: number
  verbose: boolean
  env: NodeJS.ProcessEnv
  cwd: string
  /** Writes one log line (to stderr). */
  log: (line: string) => void
  /** Pass SIGINT/SIGTERM of this process on to the CLI. */
  forwardSignals: boolean
  /** `agentlog runner` only: what it hears of the relay it runs. */
  hooks?: RelayHooks
}

/** What `agentlog runner` hears of each agent's relay (src/runner/). */
export interface RelayHooks {
  /** The first CLI answered an initialize request and the agent socket is open: the agent is up. */
  ready?: () => void
  /** A CLI process was started (its process group is its pid). */
  spawned?: (pid: number) => void
  /** A line the CLI wrote on stderr (then piped, not inherited). */
  stderr?: (line: string) => void
  /** How long a CLI asked to stop has before SIGKILL (default 3000 ms). */
  killAfterMs?: number
}

export const DEFAULTS = {
  server: 'ws://127.0.0.1:7700',
  bufferLines: 10000,
  replayLines: 200,
  maxRestarts: 5,
  restartWindowMs: 10 * 60 * 1000,
  restartDelayMs: 1000,
  restartMaxDelayMs: 30000,
  backoffInitialMs: 100,
  backoffMaxMs: 5000,
  drainOnExitMs: 5000
}

/** The WebSocket base of a server given as ws(s):// or http(s)://, without a trailing slash. */
export function socketBase (server: string): string {
  const base = server.trim().replace(/\/+$/, '').replace(/^http(s?):\/\//, 'ws$1://')
  if (!/^wss?:\/\//.test(base)) throw new Error(`--server must be a ws://, wss://, http:// or https:// URL, got ${JSON.stringify(server)}`)
  return base
}

/** The agent socket URL for a server given as ws(s):// or http(s)://. */
export function agentUrl (server: string, agentId: string): string {
  return `${socketBase(server)}/ws/${encodeURIComponent(agentId)}`
}
