// Configuration from the environment, validated once at start-up with messages that name the variable.
import { isLoopbackHost } from './loopback.js'
import { resolve } from 'node:path'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { DEFAULT_REDACT_PATTERNS } from './redact.js'
import { parsePolicy, parsePolicyJson, PolicyError, type Policy } from './approvals/policy.js'
import { loadPriceTable, type PriceTable } from './usage/prices.js'
import { parseBudgets, type Budget } from './usage/budgets.js'

export type ToolPolicy = Policy

export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA'

export type Role = 'agent' | 'runner' | 'reader' | 'operator'

export interface AuthToken {
  role: Role
  token: string
  /** Who holds it, for the record (who decided an approval); null: unnamed. */
  name: string | null
  /**
   * Agent tokens: the agent ids it may connect as; runner tokens: the runner names it may connect as (`*` any run
   * of characters, `?` one); null: any.
   */
  agentGlob: string | null
}

export interface Config {
  host: string
  port: number
  databasePath: string
  databaseUrl: string | null
  /** PostgreSQL only: the schema to create and use (default: the server's search_path, normally public). */
  databaseSchema: string | null
  /** This process's name among several instances on one PostgreSQL (GET /agents shows it); unique per process. */
  instanceId: string
  eventsMaxPerAgent: number
  logLevel: string
  toolPolicy: ToolPolicy
  /** What tokens cost when nothing reported a cost (imports): the bundled table, or PRICING_FILE's. */
  prices: PriceTable
  /** BUDGETS: spend limits per day or month, fleet-wide or per agent glob. */
  budgets: Budget[]
  /** How often budgets are checked against usage. */
  budgetCheckMs: number
  /** How long a tool call waits for a person before approvalFallback is sent. */
  approvalTimeoutMs: number
  approvalFallback: 'allow' | 'deny'
  /** POSTed to (with retries) when a tool call starts waiting for a person; null: none. */
  approvalWebhookUrl: string | null
  approvalWebhookFormat: 'json' | 'slack' | 'ntfy'
  /** The server's address as people reach it, for the decide links in notifications. */
  publicUrl: string
  clearContextWaitMs: number
  /** How long an operator control command (interrupt, permission mode, model) waits for the agent's answer. */
  controlWaitMs: number
  heartbeatMs: number
  maxFrameBytes: number
  maxEventContentBytes: number
  sqliteSynchronous: SqliteSynchronous
  /** How long a write waits for another connection's lock before failing (the writer then retries with backoff). */
  sqliteBusyTimeoutMs: number
  queueMax: number
  batchMax: number
  /** Per agent, how many recent line uuids are remembered to drop re-sent lines (rebuilt from the log on load). */
  dedupeWindowLines: number
  /** How long a request waits for the writer (a prompt's 202, clear-context) before it is answered 503. */
  writeTimeoutMs: number
  /** Benchmarks only (bench/run.ts): each batch waits this long before it commits, to stand for a slow disk. */
  benchCommitDelayMs: number
  subscriberBuffer: number
  /** Bearer tokens; empty: no access control (refused on a non-loopback HOST unless allowUnauthenticated). */
  authTokens: AuthToken[]
  allowUnauthenticated: boolean
  /** Browser origins allowed to call the API; null: CORS off. */
  corsOrigins: string[] | null
  /** Host names /mcp answers to (DNS-rebinding protection); ['*']: any; null: loopback, PUBLIC_URL's and HOST's. */
  mcpAllowedHosts: string[] | null
  /** Operator requests (POST) per client per window; 0: no limit. */
  rateLimitMax: number
  rateLimitWindowMs: number
  /** Masked in content and metadata before an event is stored. */
  redactPatterns: RegExp[]
  /** An agent socket that receives nothing (not even keep_alive) this long is closed; 0: never. */
  agentIdleTimeoutMs: number
  /** A request (headers and body) must arrive within this; 0: no limit. */
  httpRequestTimeoutMs: number
  httpKeepAliveTimeoutMs: number
  /** An HTTP socket with no traffic either way this long is closed; 0: never. SSE streams stay busy with heartbeats. */
  httpConnectionTimeoutMs: number
  /** /health/ready answers 503 while the mean event-loop delay is over this; 0: not checked. */
  readyMaxEventLoopDelayMs: number
  /** How long POST /runners/:name/agents (and resume) waits for the runner to have the agent's CLI up. */
  runnerStartTimeoutMs: number
  /** How long a stopped agent's CLI has after SIGTERM before SIGKILL. */
  runnerStopGraceMs: number
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
  try {
    return parsePolicy(raw, 'TOOL_POLICY')
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(err.message)
    throw err
  }
}

/** TOOL_POLICY, or the JSON policy in TOOL_POLICY_FILE (not both). */
function loadToolPolicy (env: Env): ToolPolicy {
  const file = (env.TOOL_POLICY_FILE ?? '').trim()
  if (file === '') return parseToolPolicy(env.TOOL_POLICY)
  if ((env.TOOL_POLICY ?? '').trim() !== '') throw new ConfigError('TOOL_POLICY and TOOL_POLICY_FILE are both set; use one')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`TOOL_POLICY_FILE ${JSON.stringify(file)} cannot be read: ${(err as Error).message}`)
  }
  try {
    return parsePolicyJson(text, 'TOOL_POLICY_FILE')
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(err.message)
    throw err
  }
}

function httpUrl (env: Env, name: string): string | null {
  const raw = (env[name] ?? '').trim()
  if (raw === '') return null
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got ${JSON.stringify(raw)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${name} must be an http:// or https:// URL, got ${JSON.stringify(raw)}`)
  return raw
}

function oneOf<T extends string> (env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = (env[name] ?? '').trim().toLowerCase()
  if (raw === '') return fallback
  if (!values.includes(raw as T)) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(env[name])}`)
  return raw as T
}

function flag (env: Env, name: string, fallback: boolean): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase()
  if (raw === '') return fallback
  if (['1', 'true', 'yes'].includes(raw)) return true
  if (['0', 'false', 'no'].includes(raw)) return false
  throw new ConfigError(`${name} must be 1 or 0 (true/false), got ${JSON.stringify(env[name])}`)
}

const ROLES: Role[] = ['agent', 'runner', 'reader', 'operator']
const TOKEN_PATTERN = /^[\x21-\x7e]+$/
const GLOB_PATTERN = /^[A-Za-z0-9._:*?-]{1,128}$/

const NAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/

/**
 * `role:token` or `role:token:agent-glob` entries (AUTH_TOKENS comma-separated, AUTH_TOKENS_FILE one a line),
 * each optionally preceded by `name=` (who holds the token, kept with the approvals it decides).
 * Messages name the entry by position, never by its token.
 */
export function parseAuthTokens (entries: string[], source: string): AuthToken[] {
  return entries.map((raw, i) => {
    const where = `${source} entry ${i + 1}`
    // a role never holds "=", so an entry without a name reads as before
    const named = /^([^:=]*)=(.*)$/s.exec(raw)
    const name = named === null ? null : named[1]
    if (name !== null && !NAME_PATTERN.test(name)) {
      throw new ConfigError(`${where}: the name before "=" must be 1 to 64 of A-Z a-z 0-9 . _ @ -, got ${JSON.stringify(name)}`)
    }
    const entry = named === null ? raw : named[2]
    const [role, token, ...rest] = entry.split(':')
    if (!ROLES.includes(role as Role)) {
      throw new ConfigError(`${where}: must be role:token or agent:token:glob with role agent, runner, reader or operator, got role ${JSON.stringify(role)}`)
    }
    if (token === undefined || token === '' || !TOKEN_PATTERN.test(token) || token.includes(',')) {
      throw new ConfigError(`${where}: the token must be printable ASCII without spaces, commas or colons`)
    }
    const glob = rest.length > 0 ? rest.join(':') : null
    if (glob !== null && role !== 'agent' && role !== 'runner') throw new ConfigError(`${where}: only agent tokens take an agent-id glob (and runner tokens a runner-name glob)`)
    if (glob !== null && !GLOB_PATTERN.test(glob)) {
      throw new ConfigError(`${where}: the agent-id glob must be 1 to 128 of A-Z a-z 0-9 . _ : - * ?, got ${JSON.stringify(glob)}`)
    }
    return { role: role as Role, token, name, agentGlob: glob }
  })
}

function loadAuthTokens (env: Env): AuthToken[] {
  const inline = (env.AUTH_TOKENS ?? '').split(',').map(e => e.trim()).filter(e => e !== '')
  const tokens = parseAuthTokens(inline, 'AUTH_TOKENS')
  const file = (env.AUTH_TOKENS_FILE ?? '').trim()
  if (file !== '') {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`AUTH_TOKENS_FILE ${JSON.stringify(file)} cannot be read: ${(err as Error).message}`)
    }
    const lines = text.split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
    if (lines.length === 0) throw new ConfigError(`AUTH_TOKENS_FILE ${JSON.stringify(file)} holds no token`)
    tokens.push(...parseAuthTokens(lines, 'AUTH_TOKENS_FILE'))
  }
  if (new Set(tokens.map(t => t.token)).size !== tokens.length) {
    throw new ConfigError('AUTH_TOKENS/AUTH_TOKENS_FILE: the same token is listed twice; each token must have one role')
  }
  return tokens
}

function corsOrigins (env: Env): string[] | null {
  const list = (env.CORS_ORIGINS ?? '').split(',').map(o => o.trim()).filter(o => o !== '')
  if (list.length === 0) return null
  for (const origin of list) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS must be comma-separated origins like https://ui.example.com (scheme and host, no path) or *, got ${JSON.stringify(origin)}`)
    }
  }
  return list
}

/** MCP_ALLOWED_HOSTS: comma-separated host names (a port is ignored), or *. */
function mcpAllowedHosts (env: Env): string[] | null {
  const list = (env.MCP_ALLOWED_HOSTS ?? '').split(',').map(h => h.trim().toLowerCase()).filter(h => h !== '')
  if (list.length === 0) return null
  for (const host of list) {
    if (host !== '*' && !/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d+)?$/.test(host)) {
      throw new ConfigError(`MCP_ALLOWED_HOSTS must be comma-separated host names like agentlog.example.com (no scheme or path) or *, got ${JSON.stringify(host)}`)
    }
  }
  return list
}

/** The built-in patterns (unless REDACT_DEFAULTS=0) and REDACT_PATTERNS, whitespace-separated regular expressions. */
function redactPatterns (env: Env): RegExp[] {
  const patterns = flag(env, 'REDACT_DEFAULTS', true) ? [...DEFAULT_REDACT_PATTERNS] : []
  for (const source of (env.REDACT_PATTERNS ?? '').split(/\s+/).filter(p => p !== '')) {
    let re: RegExp
    try {
      re = new RegExp(source)
    } catch (err) {
      throw new ConfigError(`REDACT_PATTERNS: ${JSON.stringify(source)} is not a valid regular expression (${(err as Error).message})`)
    }
    if (re.test('')) throw new ConfigError(`REDACT_PATTERNS: ${JSON.stringify(source)} matches the empty string`)
    patterns.push(re)
  }
  return patterns
}

function loadBudgets (env: Env): Budget[] {
  try {
    return parseBudgets(env.BUDGETS)
  } catch (err) {
    throw new ConfigError(`BUDGETS: ${(err as Error).message}`)
  }
}

function loadPrices (env: Env): PriceTable {
  const file = (env.PRICING_FILE ?? '').trim()
  try {
    return loadPriceTable(file === '' ? null : resolve(file))
  } catch (err) {
    throw new ConfigError(`PRICING_FILE: ${(err as Error).message}`)
  }
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
  const instanceId = (env.INSTANCE_ID ?? '').trim() ||
    `${hostname().replace(/[^A-Za-z0-9._-]/g, '').slice(0, 32) || 'agentlog'}-${process.pid}-${randomBytes(2).toString('hex')}`
  if (!/^[A-Za-z0-9._-]{1,50}$/.test(instanceId)) {
    throw new ConfigError('INSTANCE_ID must be 1 to 50 characters of A-Z, a-z, 0-9, ".", "_" or "-"')
  }
  const authTokens = loadAuthTokens(env)
  const allowUnauthenticated = flag(env, 'ALLOW_UNAUTHENTICATED', false)
  if (authTokens.length === 0 && !allowUnauthenticated && !isLoopbackHost(host)) {
    throw new ConfigError(`HOST ${host} is not a loopback address and neither AUTH_TOKENS nor AUTH_TOKENS_FILE is set: ` +
      'anyone who can reach the port could read every log and prompt every agent. Set AUTH_TOKENS, ' +
      'or ALLOW_UNAUTHENTICATED=1 if something in front of agentlog controls access')
  }
  const heartbeatMs = integer(env, 'HEARTBEAT_MS', 15000, 10, 3600000)
  const httpConnectionTimeoutMs = integer(env, 'HTTP_CONNECTION_TIMEOUT_MS', 0, 0, 3600000)
  if (httpConnectionTimeoutMs > 0 && httpConnectionTimeoutMs <= heartbeatMs) {
    throw new ConfigError(`HTTP_CONNECTION_TIMEOUT_MS must be 0 or more than HEARTBEAT_MS (${heartbeatMs}), or live streams would be cut between heartbeats`)
  }
  return {
    host,
    port: integer(env, 'PORT', 7700, 0, 65535),
    databasePath: resolve((env.DATABASE_PATH ?? '').trim() || './data/agentlog.db'),
    databaseUrl,
    databaseSchema,
    instanceId,
    eventsMaxPerAgent: integer(env, 'EVENTS_MAX_PER_AGENT', 50000, 0),
    logLevel,
    toolPolicy: loadToolPolicy(env),
    prices: loadPrices(env),
    budgets: loadBudgets(env),
    budgetCheckMs: integer(env, 'BUDGET_CHECK_MS', 60000, 10, 86400000),
    approvalTimeoutMs: integer(env, 'APPROVAL_TIMEOUT_MS', 15 * 60 * 1000, 100, 7 * 24 * 3600 * 1000),
    approvalFallback: oneOf(env, 'APPROVAL_FALLBACK', ['deny', 'allow'] as const, 'deny'),
    approvalWebhookUrl: httpUrl(env, 'APPROVAL_WEBHOOK_URL'),
    approvalWebhookFormat: oneOf(env, 'APPROVAL_WEBHOOK_FORMAT', ['json', 'slack', 'ntfy'] as const, 'json'),
    publicUrl: (httpUrl(env, 'PUBLIC_URL') ?? `http://${host.includes(':') ? `[${host}]` : host}:${integer(env, 'PORT', 7700, 0, 65535)}`).replace(/\/+$/, ''),
    clearContextWaitMs: integer(env, 'CLEAR_CONTEXT_WAIT_MS', 5000, 0, 600000),
    controlWaitMs: integer(env, 'CONTROL_WAIT_MS', 10000, 1, 600000),
    heartbeatMs,
    maxFrameBytes: integer(env, 'MAX_FRAME_BYTES', 16 * 1024 * 1024, 1024),
    maxEventContentBytes: integer(env, 'MAX_EVENT_CONTENT_BYTES', 256 * 1024, 16),
    sqliteSynchronous: sync as SqliteSynchronous,
    sqliteBusyTimeoutMs: integer(env, 'SQLITE_BUSY_TIMEOUT_MS', 250, 0, 600000),
    queueMax: integer(env, 'QUEUE_MAX', 10000, 100),
    batchMax: integer(env, 'BATCH_MAX', 2000, 1, 100000),
    dedupeWindowLines: integer(env, 'DEDUPE_WINDOW_LINES', 5000, 0, 1000000),
    writeTimeoutMs: integer(env, 'WRITE_TIMEOUT_MS', 10000, 1, 600000),
    benchCommitDelayMs: integer(env, 'BENCH_COMMIT_DELAY_MS', 0, 0, 60000),
    subscriberBuffer: integer(env, 'SUBSCRIBER_BUFFER', 1000, 10),
    authTokens,
    allowUnauthenticated,
    corsOrigins: corsOrigins(env),
    mcpAllowedHosts: mcpAllowedHosts(env),
    rateLimitMax: integer(env, 'RATE_LIMIT_MAX', 600, 0),
    rateLimitWindowMs: integer(env, 'RATE_LIMIT_WINDOW_MS', 60000, 100, 86400000),
    redactPatterns: redactPatterns(env),
    agentIdleTimeoutMs: integer(env, 'AGENT_IDLE_TIMEOUT_MS', 600000, 0, 86400000),
    httpRequestTimeoutMs: integer(env, 'HTTP_REQUEST_TIMEOUT_MS', 30000, 0, 3600000),
    httpKeepAliveTimeoutMs: integer(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 72000, 1, 3600000),
    httpConnectionTimeoutMs,
    readyMaxEventLoopDelayMs: integer(env, 'READY_MAX_EVENT_LOOP_DELAY_MS', 1000, 0, 600000),
    runnerStartTimeoutMs: integer(env, 'RUNNER_START_TIMEOUT_MS', 60000, 100, 3600000),
    runnerStopGraceMs: integer(env, 'RUNNER_STOP_GRACE_MS', 10000, 0, 600000)
  }
}
