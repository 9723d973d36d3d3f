// WRITE_TIMEOUT_MS: with the storage held by another connection (the writer stalls), a prompt, a clear-context and
// an operator command answer 503 write_timeout in about that time, their events are written once the storage is
// free again, and a shutdown during the outage ends in about that time too.
import { test } from 'tap'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { boundFor, build, collect, connect, listen, sync, line, walk, assistantText, tempDatabasePath } from './helper.js'

const WRITE_TIMEOUT_MS = 300
/** The setting plus what a loaded machine adds, below the default WRITE_TIMEOUT_MS (10 s). */
const UPPER_MS = boundFor(WRITE_TIMEOUT_MS, 10000)
/** Shutdown: the writer's WRITE_TIMEOUT_MS, then on PostgreSQL up to a second before a stuck query is cancelled. */
const CLOSE_UPPER_MS = boundFor(WRITE_TIMEOUT_MS + 1000, 10000)

interface Stall { release: () => Promise<void> }

/**
 * Another connection takes the write lock and keeps it: SQLite, a write transaction (the writer's BEGIN IMMEDIATE
 * fails with SQLITE_BUSY and is retried); PostgreSQL, an EXCLUSIVE lock on the tables the writer writes (its
 * statements wait).
 */
async function stallStorage (app: FastifyInstance, databasePath: string): Promise<Stall> {
  if (app.sqlite !== null) {
    const locker = new SQLite(databasePath)
    locker.exec('BEGIN EXCLUSIVE')
    return {
      async release () {
        if (!locker.open) return
        locker.exec('COMMIT')
        locker.close()
      }
    }
  }
  const client = new pg.Client({ connectionString: app.config.databaseUrl as string })
  await client.connect()
  await client.query(`set search_path to ${app.config.databaseSchema as string}`)
  await client.query('begin')
  await client.query('lock table conversation_events, agents, sessions in exclusive mode')
  let released = false
  return {
    async release () {
      if (released) return
      released = true
      await client.query('commit')
      await client.end()
    }
  }
}

async function connectAgent (app: FastifyInstance): Promise<{ ws: WebSocket, inbox: ReturnType<typeof collect> }> {
  const ws = await app.injectWS('/ws/agent-1')
  const inbox = collect(ws)
  ws.send(line(assistantText('before the outage')))
  await sync(app, ws, inbox)
  return { ws, inbox }
}

/** Runs the request, returning its answer and how long it took. */
async function timed (app: FastifyInstance, method: 'POST', url: string, payload?: object): Promise<{ status: number, body: any, ms: number }> {
  const started = performance.now()
  const res = await app.inject({ method, url, payload })
  return { status: res.statusCode, body: res.json(), ms: Math.round(performance.now() - started) }
}

const env = { WRITE_TIMEOUT_MS: String(WRITE_TIMEOUT_MS), SQLITE_BUSY_TIMEOUT_MS: '20', CLEAR_CONTEXT_WAIT_MS: '5000', CONTROL_WAIT_MS: '5000' }

test('WRITE_TIMEOUT_MS=300 with the storage held: prompt, clear-context and an operator command answer 503 write_timeout in time; written once it is free', async (t) => {
  const databasePath = tempDatabasePath(t)
  const app = await build(t, { databasePath, env })
  const { ws, inbox } = await connectAgent(app)
  t.teardown(() => ws.terminate())
  const stall = await stallStorage(app, databasePath)
  t.teardown(stall.release)

  const prompt = await timed(app, 'POST', '/agents/agent-1/messages', { content: 'during the outage' })
  const clear = await timed(app, 'POST', '/agents/agent-1/clear-context')
  // the agent confirms the interrupt at once; storing the operator_command event is what waits
  const pending = timed(app, 'POST', '/agents/agent-1/interrupt')
  const request = await inbox.next(m => m.type === 'control_request' && m.request?.subtype === 'interrupt')
  ws.send(line({ type: 'control_response', response: { subtype: 'success', request_id: request.request_id, response: {} } }))
  const interrupt = await pending

  for (const [name, res] of [['prompt', prompt], ['clear-context', clear], ['interrupt', interrupt]] as const) {
    t.equal(res.status, 503, `${name}: 503`)
    t.match(res.body, { code: 'write_timeout', message: new RegExp(`within ${WRITE_TIMEOUT_MS} ms`) }, `${name}: write_timeout`)
    t.ok(res.ms >= WRITE_TIMEOUT_MS - 5 && res.ms <= UPPER_MS, `${name}: answered after ${res.ms} ms (WRITE_TIMEOUT_MS ${WRITE_TIMEOUT_MS}, bound ${UPPER_MS})`)
  }
  // SQLite: the commits fail (SQLITE_BUSY); PostgreSQL: the commit waits on the lock, neither failing nor done
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503, 'not ready while the writer is stalled')
  t.match(ready.json().last_error, app.sqlite !== null ? /database is locked/ : /a write has waited \d+ ms, over WRITE_TIMEOUT_MS/, `the cause: ${ready.json().last_error as string}`)

  // a prompt still waiting to be written at its deadline was taken back; one already being written (PostgreSQL: its
  // commit waits on the lock) is written and sent once the storage is free
  const promptDropped = /nothing was stored or sent/.test(prompt.body.message)

  // the storage comes back: what the other 503s were about is written after all, once each
  await stall.release()
  await app.events.flush()
  await sync(app, ws, inbox)
  const events = await walk(app, 'agent-1')
  t.same(events.map(e => [e.event_type, e.session_number]), [
    ['output', 0],
    ...(promptDropped ? [] : [['prompt_sent', 0], ['activity_changed', 0]]),
    ['context_cleared', 1],
    ['operator_command', 1]
  ], 'each queued event stored once, in order')
  const delivered = inbox.lines.filter(m => m.type === 'user' && m.message.content === 'during the outage')
  t.equal(delivered.length, promptDropped ? 0 : 1, 'the agent got the prompt exactly when the log holds it')
  t.same(events.map(e => e.seq), events.map((_, i) => i + 1), 'seq without gaps')
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'ready again')
})

test('WRITE_TIMEOUT_MS=300: app.close() during a storage outage ends in about that time', async (t) => {
  const databasePath = tempDatabasePath(t)
  const app = await build(t, { databasePath, env })
  // a real socket: the agent answers the server's close at once, so the wait measured is the writer's
  const ws = await connect(t, `${await listen(app)}/ws/agent-1`)
  const inbox = collect(ws)
  ws.send(line(assistantText('before the outage')))
  await sync(app, ws, inbox)
  const stall = await stallStorage(app, databasePath)
  t.teardown(stall.release)
  ws.send(line(assistantText('never written')))
  const queued = await new Promise<boolean>(resolve => {
    const check = (): void => { if (app.events.queueDepth > 0) resolve(true); else setImmediate(check) }
    check()
  })
  t.ok(queued, 'a line waits in the queue')

  const started = performance.now()
  await app.close()
  const ms = Math.round(performance.now() - started)
  t.ok(ms >= WRITE_TIMEOUT_MS - 5 && ms <= CLOSE_UPPER_MS, `closed after ${ms} ms (WRITE_TIMEOUT_MS ${WRITE_TIMEOUT_MS}, bound ${CLOSE_UPPER_MS})`)
  await stall.release()

  const again = await build(t, { databasePath })
  t.same((await walk(again, 'agent-1')).map(e => e.content), ['before the outage'], 'what was committed is there; the line queued at close is not')
})
