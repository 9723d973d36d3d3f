// Configuration from the environment, validated once at start-up with messages that name the variable.
import { resolve } from 'node:path'

export type ToolPolicy =
  | { mode: 'allow_all' }
  | { mode: 'deny_all' }
  | { mode: 'allow', tools: Set<string> }
  | { mode: 'deny', tools: Set<string> }

export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA'

export interface Config {
  host: string
  port: number
  databasePath: string
  databaseUrl: string | null
  /** PostgreSQL only: the schema to create and use (default: the server's search_path, normally public). */
  databaseSchema: string | null
  eventsMaxPerAgent: number
  logLevel: string
  toolPolicy: ToolPolicy
  clearContextWaitMs: number
  heartbeatMs: number
  maxFrameBytes: number
  maxEventContentBytes: number
  sqliteSynchronous: SqliteSynchronous
  /** How long a write waits for another connection's lock before failing (the writer then retries with backoff). */
  sqliteBusyTimeoutMs: number
  queueMax: number
  batchMax: number
  /** Benchmarks only (bench/run.ts): each batch waits this long before it commits, to stand for a slow disk. */
  benchCommitDelayMs: number
  subscriberBuffer: number
}

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const SYNC_MODES = ['OFF', 'NORMAL', 'FULL', 'EXTRA']

function integer (env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`)
  }
  const value = Number(raw.trim())
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${raw}`)
  }
  return value
}

export function parseToolPolicy (raw: string | undefined): ToolPolicy {
  const text = (raw ?? '').trim()
  if (text === '' || text === 'allow_all') return { mode: 'allow_all' }
  if (text === 'deny_all') return { mode: 'deny_all' }
  const match = /^(allow|deny):(.*)$/.exec(text)
  if (match !== null) {
    const tools = new Set(match[2].split(',').map(t => t.trim()).filter(t => t !== ''))
    if (tools.size > 0) return { mode: match[1] as 'allow' | 'deny', tools }
  }
  throw new ConfigError(`TOOL_POLICY must be allow_all, deny_all, allow:Tool,Tool or deny:Tool,Tool, got ${JSON.stringify(raw)}`)
}

export function loadConfig (env: Env = process.env): Config {
  const host = (env.HOST ?? '').trim() || '127.0.0.1'
  const logLevel = (env.LOG_LEVEL ?? '').trim() || 'info'
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`)
  }
  const sync = ((env.SQLITE_SYNCHRONOUS ?? '').trim() || 'NORMAL').toUpperCase()
  if (!SYNC_MODES.includes(sync)) {
    throw new ConfigError(`SQLITE_SYNCHRONOUS must be one of ${SYNC_MODES.join(', ')}, got ${JSON.stringify(env.SQLITE_SYNCHRONOUS)}`)
  }
  const databaseUrl = (env.DATABASE_URL ?? '').trim() || null
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL')
  }
  const databaseSchema = (env.DATABASE_SCHEMA ?? '').trim() || null
  if (databaseSchema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(databaseSchema)) {
    throw new ConfigError('DATABASE_SCHEMA must be a lower-case SQL identifier (a-z, 0-9, _)')
  }
  return {
    host,
    port: integer(env, 'PORT', 7700, 0, 65535),
    databasePath: resolve((env.DATABASE_PATH ?? '').trim() || './data/agentlog.db'),
    databaseUrl,
    databaseSchema,
    eventsMaxPerAgent: integer(env, 'EVENTS_MAX_PER_AGENT', 50000, 0),
    logLevel,
    toolPolicy: parseToolPolicy(env.TOOL_POLICY),
    clearContextWaitMs: integer(env, 'CLEAR_CONTEXT_WAIT_MS', 5000, 0, 600000),
    heartbeatMs: integer(env, 'HEARTBEAT_MS', 15000, 10, 3600000),
    maxFrameBytes: integer(env, 'MAX_FRAME_BYTES', 16 * 1024 * 1024, 1024),
    maxEventContentBytes: integer(env, 'MAX_EVENT_CONTENT_BYTES', 256 * 1024, 16),
    sqliteSynchronous: sync as SqliteSynchronous,
    sqliteBusyTimeoutMs: integer(env, 'SQLITE_BUSY_TIMEOUT_MS', 250, 0, 600000),
    queueMax: integer(env, 'QUEUE_MAX', 20000, 100),
    batchMax: integer(env, 'BATCH_MAX', 2000, 1, 100000),
    benchCommitDelayMs: integer(env, 'BENCH_COMMIT_DELAY_MS', 0, 0, 60000),
    subscriberBuffer: integer(env, 'SUBSCRIBER_BUFFER', 1000, 10)
  }
}
