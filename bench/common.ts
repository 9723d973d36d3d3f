// Shared by the benchmark scripts: realistic agent lines, the child-process protocol, percentiles and env knobs.
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** dist/bench when compiled; the child entry points live next to this file. */
export const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
/** The project root (dist/bench/../..). */
export const ROOT = join(BENCH_DIR, '..', '..')

export function envInt (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`)
  return value
}

export function envStr (name: string, fallback: string): string {
  const raw = process.env[name]
  return raw === undefined || raw.trim() === '' ? fallback : raw.trim()
}

// ---- agent lines ----

const LOREM = 'The failing test expects the session number to survive a restart, so the value has to come from the ' +
  'agents row rather than from counting context_cleared events. I will read plugins/event-store.ts first, then ' +
  'check how loadAgent initialises currentSession before the socket starts reading. '

/** Output of a test run, as a tool_result carries it (about 1 KB). */
const TEST_OUTPUT = Array.from({ length: 14 }, (_, i) => `ok ${i + 1} - test/sessions.test.ts > the session number survives a restart # time=${(i * 37) % 900}ms`).join('\n') +
  '\n# { total: 14, pass: 14 }\n# time=4231.7ms\n'
/** A file as Read returns it (about 3 KB, numbered lines). */
const FILE_TEXT = Array.from({ length: 48 }, (_, i) => `${String(i + 1).padStart(6)}\t  const state = agents.mustGet(agentId) // line ${i + 1} of plugins/event-store.ts`).join('\n')

/**
 * One turn of a Claude Code agent as the CLI streams it (shapes from test/fixtures/recordings): assistant lines of
 * one content block each (text, thinking, tool_use), user lines carrying tool_result blocks, and the turn's result.
 * JSON.stringify runs once per template; a line is then a few string concatenations, so the client spends its time
 * sending, not building. Ten lines make eleven events (a result also says the agent went idle).
 */
function templates (sessionId: string): Array<[string, string, string]> {
  const assistant = (block: Record<string, unknown>): Record<string, unknown> => ({
    type: 'assistant',
    message: {
      id: '@MSG@',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-6',
      content: [block],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 1203, cache_creation_input_tokens: 0, cache_read_input_tokens: 14320, output_tokens: 1 },
      context_management: null
    },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: '@UUID@'
  })
  const toolResult = (id: string, content: string): Record<string, unknown> => ({
    type: 'user',
    message: { role: 'user', content: [{ tool_use_id: id, type: 'tool_result', content, is_error: false }] },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: '@UUID@',
    timestamp: '2026-12-01T10:00:00.000Z'
  })
  const lines: Array<Record<string, unknown>> = [
    assistant({ type: 'thinking', thinking: LOREM.slice(0, 180), signature: 'EqoBCkgIBxABGAIiQL2' }),
    assistant({ type: 'text', text: LOREM }),
    assistant({ type: 'tool_use', id: 'toolu_01', name: 'Bash', input: { command: 'npx tap -R tap test/sessions.test.ts --timeout 300', description: 'Run the session tests' } }),
    toolResult('toolu_01', TEST_OUTPUT),
    assistant({ type: 'tool_use', id: 'toolu_02', name: 'Read', input: { file_path: '/home/dev/agentlog/plugins/event-store.ts' } }),
    toolResult('toolu_02', FILE_TEXT),
    assistant({ type: 'text', text: LOREM + LOREM + '\n```ts\nconst state = await events.loadAgent(agentId, true)\n```\n' }),
    assistant({ type: 'tool_use', id: 'toolu_03', name: 'Edit', input: { file_path: '/home/dev/agentlog/plugins/event-store.ts', old_string: 'state.currentSession = 0', new_string: 'state.currentSession = row.current_session' } }),
    toolResult('toolu_03', 'The file /home/dev/agentlog/plugins/event-store.ts has been updated.'),
    {
      type: 'result',
      subtype: 'success',
      is_error: false,
      duration_ms: 14231,
      duration_api_ms: 12004,
      num_turns: 4,
      result: 'Done: the session number now comes from the agents row.',
      session_id: sessionId,
      total_cost_usd: 0.0421,
      usage: { input_tokens: 4812, cache_creation_input_tokens: 0, cache_read_input_tokens: 57280, output_tokens: 912 },
      modelUsage: { 'claude-sonnet-4-6': { inputTokens: 4812, outputTokens: 912, cacheReadInputTokens: 57280, cacheCreationInputTokens: 0, costUSD: 0.0421 } },
      permission_denials: [],
      uuid: '@UUID@'
    }
  ]
  return lines.map((message) => {
    const line = JSON.stringify(message)
    const [a, rest] = line.includes('@MSG@') ? line.split('@MSG@') : ['', line]
    const [b, c] = rest.split('@UUID@')
    return [a, b, c + '\n']
  })
}

/** How many events a line of lineSource() makes: a result makes two (the result, and the agent going idle). */
export function eventsOf (line: string): number {
  return line.startsWith('{"type":"result"') ? 2 : 1
}

/**
 * An endless source of distinct lines for one agent (each with its own random v4 uuid, so none is a re-send), turn
 * after turn. BENCH_LINE_UUID=0 leaves the uuid out, an experiment to see what the dedupe keys cost the writer.
 */
export function lineSource (): () => string {
  const shapes = templates(randomUUID())
  const withUuid = process.env.BENCH_LINE_UUID !== '0'
  let n = 0
  return () => {
    const [a, b, c] = shapes[n % shapes.length]
    n++
    // a result line has no message id: `a` is empty and the uuid follows at once
    return (a === '' ? '' : a + 'msg_bench_' + (n >> 1)) + b + (withUuid ? randomUUID() : '') + c
  }
}

// ---- child processes: ready message, then request/response over IPC ----

export interface Child {
  process: ChildProcess
  port: number
  request: <T = any>(cmd: string, args?: Record<string, unknown>) => Promise<T>
  /** The last lines the child printed (its log), for error reports. */
  output: string[]
  stop: () => Promise<void>
}

/** Forks dist/bench/<entry>.js, waits for `{ type: 'ready', port }`. */
export async function startChild (entry: string, env: Record<string, string> = {}, execArgv: string[] = []): Promise<Child> {
  const child = fork(join(BENCH_DIR, entry), [], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(process.env.BENCH_NODE_OPTIONS !== undefined ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}), ...env },
    execArgv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  const output: string[] = []
  const keep = (chunk: Buffer): void => {
    for (const l of chunk.toString().split('\n')) if (l.trim() !== '') output.push(l)
    if (output.length > 200) output.splice(0, output.length - 200)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let nextId = 1
  const pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  const exited = new Promise<void>(resolve => child.once('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`${entry} exited: ${output.slice(-5).join(' | ')}`))
    pending.clear()
    resolve()
  }))
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${String(code)} before it was ready: ${output.slice(-10).join('\n')}`)))
    child.on('message', (msg: any) => {
      if (msg?.type === 'ready') { resolve(msg.port); return }
      const p = pending.get(msg?.id)
      if (p === undefined) return
      pending.delete(msg.id)
      if (msg.error !== undefined) p.reject(new Error(msg.error))
      else p.resolve(msg.value)
    })
  })
  return {
    process: child,
    port,
    output,
    request (cmd, args = {}) {
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.send({ id, cmd, ...args })
      })
    },
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.send({ id: 0, cmd: 'close' })
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000)
      await exited
      clearTimeout(timer)
    }
  }
}

/** The child side: answers `{ id, cmd }` requests with `handlers[cmd]`, and `close` with `onClose` then exit. */
export function serveRequests (handlers: Record<string, (msg: any) => unknown>, onClose: () => Promise<void>): void {
  process.on('message', (msg: any) => {
    if (msg?.cmd === 'close') {
      onClose().then(() => process.disconnect(), (err: unknown) => { console.error(err); process.exit(1) })
      return
    }
    const handler = handlers[msg?.cmd]
    Promise.resolve()
      .then(() => {
        if (handler === undefined) throw new Error(`unknown request ${String(msg?.cmd)}`)
        return handler(msg)
      })
      .then(value => process.send?.({ id: msg.id, value }), (err: Error) => process.send?.({ id: msg.id, error: err.message }))
  })
}

// ---- numbers ----

export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

export function summarize (values: number[]): { n: number, p50: number, p90: number, p99: number, max: number, mean: number } {
  const sorted = Float64Array.from(values).sort()
  const sum = values.reduce((a, b) => a + b, 0)
  return {
    n: values.length,
    p50: round(percentile(sorted, 50), 3),
    p90: round(percentile(sorted, 90), 3),
    p99: round(percentile(sorted, 99), 3),
    max: round(sorted.length === 0 ? NaN : sorted[sorted.length - 1], 3),
    mean: round(values.length === 0 ? NaN : sum / values.length, 3)
  }
}

export function round (x: number, digits = 0): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

export function mb (bytes: number): number {
  return round(bytes / 1024 / 1024, 1)
}

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

// ---- rows as the app stores them, for the bare appends ----

export interface BenchRow { agent: number, seq: number, type: string, content: string | null, metadata: string | null, createdAt: string, lineUuid: string | null }

/**
 * `n` rows as the app would store the lines of lineSource() (the same mappers), spread over `agents` agents whose
 * seqs start after `base`: what a bare append writes to be compared with the app on the same data.
 */
export async function benchRows (n: number, agents: number, base = 0): Promise<BenchRow[]> {
  const { parseLine } = await import('../src/protocol/ndjson.js')
  const { assistantEvents, resultEvent, userEvents } = await import('../src/protocol/messages.js')
  const sources = Array.from({ length: agents }, () => lineSource())
  const seqs = new Array<number>(agents).fill(base)
  const rows: BenchRow[] = []
  const at = new Date(Date.UTC(2026, 11, 1)).toISOString()
  for (let i = 0; rows.length < n; i++) {
    const agent = i % agents
    const parsed = parseLine(sources[agent]().trimEnd())
    if (!parsed.ok) continue
    const m = parsed.message
    const drafts = m.type === 'assistant'
      ? assistantEvents(m, 262144)
      : m.type === 'user'
        ? userEvents(m, 262144)
        : [resultEvent(m, 262144), { event_type: 'activity_changed' as const, content: null, metadata: { state: 'idle' } }]
    drafts.forEach((d, k) => rows.push({
      agent: agent + 1,
      seq: ++seqs[agent],
      type: d.event_type,
      content: d.content,
      metadata: d.metadata === null ? null : JSON.stringify(d.metadata),
      createdAt: at,
      lineUuid: k === 0 ? (m.uuid as string) : null
    }))
  }
  return rows.slice(0, n)
}
