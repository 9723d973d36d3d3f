// Builds the real app on its own temporary database for each test, and small helpers to talk to it like an agent.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { WebSocket } from 'ws'
import { sql } from 'kysely'
import app, { serverOptions, type AppOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { databaseEnv, freshSchema, ownDatabase, postgresUrl } from './support/database.js'

export interface TestContext {
  teardown: (fn: () => unknown) => void
}

export interface BuildOptions {
  env?: Record<string, string>
  /** Reuse a database (to test restarts); by default each build gets a fresh one. */
  databasePath?: string
  /** Stay on SQLite even in the PostgreSQL run (tests of the embedded file itself). */
  sqlite?: boolean
  /** Seams of the engines (see AppOptions in src/app.ts). */
  seams?: AppOptions['seams']
}

/**
 * What a loaded 2-core machine may add to a wait the server times itself (a deadline, a wait for an answer): a
 * bound on how long something took is its setting plus this margin, and a test keeps that below the setting's
 * default, so the bound still proves the setting took effect.
 */
export const LOAD_MARGIN_MS = 4000

/** The longest a wait set to `settingMs` may take here; throws if that could not tell it from `defaultMs`. */
export function boundFor (settingMs: number, defaultMs: number): number {
  const bound = settingMs + LOAD_MARGIN_MS
  if (bound >= defaultMs) throw new Error(`a bound of ${bound} ms cannot tell a setting of ${settingMs} ms from the default ${defaultMs} ms`)
  return bound
}

/**
 * For a test of the embedded database alone (or of nothing stored at all): with DATABASE_URL set (the PostgreSQL
 * pass) it would only run again what the SQLite pass ran, so it is skipped there.
 */
export const sqlitePassOnly: string | false = postgresUrl === '' ? false : 'the SQLite pass runs it (it does not touch PostgreSQL)'

export function tempDatabasePath (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'agentlog.db')
  ownDatabase(t, path)
  return path
}

export async function build (t: TestContext, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const databasePath = opts.databasePath ?? tempDatabasePath(t)
  // the run's database (a PostgreSQL schema per path when DATABASE_URL is set) unless the test names one
  const selected = opts.env?.DATABASE_URL !== undefined ? {} : databaseEnv(databasePath, opts.sqlite)
  const config = loadConfig({ LOG_LEVEL: 'silent', ...selected, ...opts.env, DATABASE_PATH: databasePath })
  // the same router limit as src/server.ts: agent ids may be 128 characters
  const server = Fastify(serverOptions(config)).withTypeProvider<TypeBoxTypeProvider>()
  // fastify-plugin lifts the app's decorators (events, agents, injectWS) to the instance the test holds
  await server.register(fp(app), { config, seams: opts.seams })
  await server.ready()
  let closed = false
  const close = server.close.bind(server)
  server.close = (async () => {
    if (closed) return
    closed = true
    await close()
  }) as typeof server.close
  t.teardown(() => server.close())
  return server as unknown as FastifyInstance
}

/**
 * Waits until full-text search covers every event committed so far: the index follows the commits by design
 * (within about a second; SQLite: src/store/sqlite-writer/, PostgreSQL: src/search/postgres-index.ts).
 */
export async function searchable (app: FastifyInstance, timeoutMs = 5000): Promise<void> {
  await app.events.flush()
  const row = await sql<{ n: number | string | null }>`select max(id) as n from conversation_events`.execute(app.db)
  const newest = Number(row.rows[0]?.n ?? 0)
  let reached = await app.textSearch.indexedThrough()
  if (reached >= newest) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`the search index did not reach event ${newest} within ${timeoutMs} ms (at ${reached})`)) }, timeoutMs)
    const off = app.textSearch.onIndexed((through) => {
      reached = Math.max(reached, through)
      if (through < newest) return
      clearTimeout(timer)
      off()
      resolve()
    })
    // it may have been said between the read above and now
    app.textSearch.indexedThrough().then((through) => {
      if (through < newest) return
      clearTimeout(timer)
      off()
      resolve()
    }, () => {})
  })
}

/** Collects what the server sends to an agent socket, line by line. */
export function collect (ws: WebSocket): { lines: any[], next: (pred: (m: any) => boolean) => Promise<any> } {
  const lines: any[] = []
  const waiters: Array<{ pred: (m: any) => boolean, resolve: (m: any) => void }> = []
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      if (line.trim() === '') continue
      const msg = JSON.parse(line)
      lines.push(msg)
      for (const w of waiters.slice()) {
        if (w.pred(msg)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(msg)
        }
      }
    }
  })
  return {
    lines,
    next (pred) {
      const found = lines.find(pred)
      if (found !== undefined) {
        lines.splice(lines.indexOf(found), 1)
        return Promise.resolve(found)
      }
      return new Promise(resolve => waiters.push({ pred, resolve: (m) => { lines.splice(lines.indexOf(m), 1); resolve(m) } }))
    }
  }
}

/**
 * Waits until the server has taken in every frame sent so far on this socket and committed it:
 * a permission request is answered in order, after every earlier line was queued.
 */
export async function sync (app: FastifyInstance, ws: WebSocket, inbox?: ReturnType<typeof collect>): Promise<void> {
  const box = inbox ?? collect(ws)
  const requestId = `sync-${randomUUID()}`
  ws.send(JSON.stringify({ type: 'control_request', request_id: requestId, request: { subtype: 'can_use_tool', tool_name: 'Sync', input: {} } }) + '\n')
  // a socket the server closed will never answer: fail with its close code instead of hanging until the timeout
  let onClose: (code: number, reason: Buffer) => void = () => {}
  const gone = new Promise<never>((resolve, reject) => {
    onClose = (code, reason) => reject(new Error(`sync: the socket closed (${code} ${reason.toString()}) before the server answered`))
    if (ws.readyState === ws.CLOSED) reject(new Error('sync: the socket is closed'))
    ws.once('close', onClose)
  })
  try {
    await Promise.race([box.next(m => m.type === 'control_response' && m.response?.request_id === requestId), gone])
  } finally {
    ws.off('close', onClose)
  }
  await app.events.flush()
}

let uuidCounter = 0
export function uuid (): string {
  uuidCounter++
  return randomUUID()
}

export function assistantText (text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'assistant',
    message: { id: `msg_${uuidCounter}`, type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'text', text }] },
    parent_tool_use_id: null,
    session_id: 'sess-1',
    uuid: uuid(),
    ...extra
  }
}

export function resultLine (totalCost: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'result',
    subtype: 'success',
    is_error: false,
    duration_ms: 10,
    duration_api_ms: 5,
    num_turns: 1,
    result: 'done',
    session_id: 'sess-1',
    total_cost_usd: totalCost,
    usage: { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 3, cache_creation_input_tokens: 4 },
    uuid: uuid(),
    ...extra
  }
}

export function line (message: unknown): string {
  return JSON.stringify(message) + '\n'
}

export async function history (app: FastifyInstance, agentId: string, query = ''): Promise<any> {
  const res = await app.inject({ method: 'GET', url: `/agents/${agentId}/events${query === '' ? '' : '?' + query}` })
  if (res.statusCode !== 200) throw new Error(`history ${res.statusCode}: ${res.body}`)
  return res.json()
}

export { postgresUrl }

/**
 * A fresh PostgreSQL schema for one test, dropped on teardown. Pass the returned env to build()
 * (several builds may share it, e.g. to test a restart).
 */
export async function postgresSchema (t: TestContext): Promise<Record<string, string>> {
  return freshSchema(t)
}

// ---- real sockets, history walks and the recorded Claude Code transcripts ----

/** Listens on a free loopback port (for tests that need a real TCP socket) and returns the ws:// base URL. */
export async function listen (app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return `ws://127.0.0.1:${address.port}`
}

/** Opens a real WebSocket (terminated on teardown) and resolves once it is open. */
export async function connect (t: TestContext, url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers })
  t.teardown(() => ws.terminate())
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return ws
}

/** Resolves with the close code and reason the socket gets. */
export function closed (ws: WebSocket): Promise<{ code: number, reason: string }> {
  return new Promise(resolve => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
}

/** Every event of an agent matching `query`, following next_cursor (asc: after=, desc: before=). */
export async function walk (app: FastifyInstance, agentId: string, query = '', limit = 1000): Promise<any[]> {
  const params = new URLSearchParams(query)
  params.set('limit', String(limit))
  const cursorParam = params.get('order') === 'desc' ? 'before' : 'after'
  const all: any[] = []
  let page = await history(app, agentId, params.toString())
  all.push(...page.events)
  while (page.next_cursor !== null) {
    params.set(cursorParam, String(page.next_cursor))
    page = await history(app, agentId, params.toString())
    all.push(...page.events)
  }
  return all
}

export async function sessionsOf (app: FastifyInstance, agentId: string): Promise<any> {
  const res = await app.inject({ method: 'GET', url: `/agents/${agentId}/sessions` })
  if (res.statusCode !== 200) throw new Error(`sessions ${res.statusCode}: ${res.body}`)
  return res.json()
}

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The real Claude Code recordings, committed with the tests (see test/fixtures/recordings/README.md). */
export function fixturesDir (): string {
  return join(projectRoot, 'test', 'fixtures', 'recordings')
}

/** The raw lines of a recording's agent-lines.ndjson (e.g. 'claude-code-2.1.112'). */
export function fixtureLines (recording: string, file = 'agent-lines.ndjson'): string[] {
  return readFileSync(join(fixturesDir(), recording, file), 'utf8').split('\n').filter(l => l.trim() !== '')
}

/** The parsed lines of a recording, for picking real messages by a predicate. */
export function fixtureMessages (recording: string): any[] {
  return fixtureLines(recording).map(l => JSON.parse(l))
}

export interface TranscriptRecord {
  t: number
  conn?: number
  dir: 'step' | 'open' | 'in' | 'out' | 'close' | 'reject' | 'exit' | 'stderr'
  data: any
}

export function transcript (recording: string, file = 'transcript.jsonl'): TranscriptRecord[] {
  return fixtureLines(recording, file).map(l => JSON.parse(l))
}

/** Resolves once the server has let go of the agent's socket (it saw the close), without polling. */
export function disconnected (app: FastifyInstance, agentId: string): Promise<void> {
  if (app.agents.get(agentId) === undefined) return Promise.resolve()
  return new Promise((resolve) => {
    const off = app.agents.onChange((id, state) => {
      if (id === agentId && state === 'disconnected') { off(); resolve() }
    })
  })
}
