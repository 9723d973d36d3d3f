// Builds the real app on its own temporary database for each test, and small helpers to talk to it like an agent.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { WebSocket } from 'ws'
import app from '../src/app.js'
import { loadConfig } from '../src/config.js'

export interface TestContext {
  teardown: (fn: () => unknown) => void
}

export interface BuildOptions {
  env?: Record<string, string>
  /** Reuse a database file (to test restarts); by default each build gets a fresh one. */
  databasePath?: string
}

export function tempDatabasePath (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'agentlog.db')
}

export async function build (t: TestContext, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const databasePath = opts.databasePath ?? tempDatabasePath(t)
  const config = loadConfig({ LOG_LEVEL: 'silent', ...opts.env, DATABASE_PATH: databasePath })
  const server = Fastify({ logger: { level: config.logLevel } }).withTypeProvider<TypeBoxTypeProvider>()
  // fastify-plugin lifts the app's decorators (events, agents, injectWS) to the instance the test holds
  await server.register(fp(app), { config })
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
  await box.next(m => m.type === 'control_response' && m.response?.request_id === requestId)
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

/** The PostgreSQL server the suite may use (CI sets DATABASE_URL to the local one). */
export const postgresUrl = process.env.DATABASE_URL ?? ''

/**
 * A fresh PostgreSQL schema for one test, dropped on teardown. Pass the returned env to build()
 * (several builds may share it, e.g. to test a restart).
 */
export async function postgresSchema (t: TestContext): Promise<Record<string, string>> {
  const { default: pg } = await import('pg')
  const schema = `agentlog_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`
  t.teardown(async () => {
    const client = new pg.Client({ connectionString: postgresUrl })
    await client.connect()
    try {
      await client.query(`drop schema if exists ${schema} cascade`)
    } finally {
      await client.end()
    }
  })
  return { DATABASE_URL: postgresUrl, DATABASE_SCHEMA: schema }
}
