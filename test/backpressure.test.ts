// Backpressure with a slow writer (every commit succeeds, just slowly): the write queue fills, readiness says so,
// the agents' sockets are not read until the queue has drained to half, and every line is stored once.
import { test } from 'tap'
import { sql } from 'kysely'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, listen } from './helper.js'
import { allEvents, openAgent, roundTrip, sendFrame, seqProblem, textLine, waitFor } from './support/server-process.js'

const QUEUE_MAX = 100
const BATCH_MAX = 10
/** How long each commit takes: with BATCH_MAX 10, some 200 lines a second, far below what the agents send. */
const COMMIT_MS = 40
const AGENTS = ['slow-a', 'slow-b', 'slow-c']
const LINES = 300
/** ~2 kB lines: one 64 kB socket read holds ~32 of them, which are still parsed after the pause. */
const PAD = 'z'.repeat(2000)

/**
 * Makes the storage slow. PostgreSQL: a trigger sleeps in every insert statement, so each commit really takes
 * that long inside the database. SQLite: better-sqlite3 commits synchronously on the event loop, so a slow disk
 * there would stall the whole process rather than the writer alone; the store's commit delay
 * (BENCH_COMMIT_DELAY_MS) stands for it, as in the benchmarks.
 */
async function slowStorage (app: FastifyInstance): Promise<void> {
  if (app.sqlite !== null) return
  await sql.raw(`create function slow_disk () returns trigger language plpgsql as
    $$ begin perform pg_sleep(${COMMIT_MS / 1000}); return null; end $$`).execute(app.db)
  await sql`create trigger slow_disk after insert on conversation_events for each statement execute function slow_disk()`.execute(app.db)
}

interface Transition {
  full: boolean
  depth: number
  linesQueued: number
  /** Bytes the server had read from each agent's TCP socket. */
  bytesRead: number[]
  paused: boolean[]
}

test('a slow writer: 503 naming the queue, agent sockets not read while full, resumed at half, nothing lost', async (t) => {
  const postgres = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== ''
  const app = await build(t, {
    env: {
      QUEUE_MAX: String(QUEUE_MAX),
      BATCH_MAX: String(BATCH_MAX),
      // readiness here is about the queue alone, not a loaded test machine's event-loop delay
      READY_MAX_EVENT_LOOP_DELAY_MS: '0',
      ...(postgres ? {} : { BENCH_COMMIT_DELAY_MS: String(COMMIT_MS) })
    }
  })
  await slowStorage(app)
  const wsUrl = await listen(app)
  const url = wsUrl.replace(/^ws/, 'http')

  const sockets: WebSocket[] = []
  t.teardown(() => { for (const ws of sockets) ws.terminate() })
  for (const agentId of AGENTS) sockets.push(await openAgent(wsUrl, agentId))
  // the server's side of each agent socket: the raw TCP socket under ws
  const serverSockets = AGENTS.map(id => app.agents.get(id)?.socket as WebSocket & { _socket: { bytesRead: number } })
  t.ok(serverSockets.every(s => s !== undefined), 'the server holds every agent socket')

  const transitions: Transition[] = []
  app.events.onPressure((full) => {
    // the socket route's listener ran first (registered at start-up): the sockets are paused or resumed by now
    transitions.push({
      full,
      depth: app.events.queueDepth,
      linesQueued: app.events.stats.linesQueued,
      bytesRead: serverSockets.map(s => s._socket.bytesRead),
      paused: serverSockets.map(s => s.isPaused)
    })
  })
  let maxDepth = 0
  app.events.onBatch(() => { maxDepth = Math.max(maxDepth, app.events.queueDepth) })

  const sent = new Map<string, string[]>(AGENTS.map(a => [a, []]))
  const started = Date.now()
  // the agents send flat out; each frame is awaited until the kernel took it, so a paused server slows them down
  const pumps = AGENTS.map(async (agentId, i) => {
    const texts = sent.get(agentId) as string[]
    for (let n = 0; n < LINES; n += 10) {
      const frame: string[] = []
      for (let k = n; k < n + 10; k++) {
        const text = `${agentId} ${k} ${PAD}`
        texts.push(text)
        frame.push(textLine(text).json)
      }
      await sendFrame(sockets[i], frame.join(''))
    }
  })

  // readiness while the queue is full: 503, and the reason is the queue (not a write error)
  const notReady = await waitFor<{ queue_depth: number }>('GET /health/ready to answer 503 with the queue as the reason', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' })
    if (res.statusCode !== 503) return undefined
    const body = res.json<{ queue_depth: number, last_error: string }>()
    // a 503 for another reason fails the test below
    return body
  })
  t.match(notReady, { status: 'unavailable', last_error: 'write queue over QUEUE_MAX: agent sockets paused' }, '503 names the full queue')
  t.ok(notReady.queue_depth >= QUEUE_MAX / 2, `queue depth ${notReady.queue_depth} when 503`)

  await Promise.all(pumps)
  for (const ws of sockets) await roundTrip(ws, 30000)
  await app.events.flush()
  const elapsed = Date.now() - started

  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200, 'ready again once drained')
  t.equal(app.events.stats.writeErrors, 0, 'a slow writer, not a failing one: no commit failed')

  const fulls = transitions.filter(x => x.full)
  const drains = transitions.filter(x => !x.full)
  t.ok(fulls.length >= 2, `the queue filled and drained several times (${fulls.length} times)`)
  t.equal(drains.length, fulls.length, 'every pause was followed by a resume')
  t.ok(transitions.every((x, i) => x.full === (i % 2 === 0)), 'full and drained alternate')
  t.ok(fulls.every(x => x.depth >= QUEUE_MAX && x.paused.every(p => p)), 'at QUEUE_MAX every agent socket is paused')
  t.ok(drains.every(x => x.depth < QUEUE_MAX / 2 && x.paused.every(p => !p)), 'below half of QUEUE_MAX every agent socket is read again')

  // while paused the server read nothing more from the agents' sockets, and queued only what it had already read
  let maxBytes = 0
  let maxLines = 0
  for (let i = 0; i < fulls.length; i++) {
    const [full, drained] = [fulls[i], drains[i]]
    maxBytes = Math.max(maxBytes, ...full.bytesRead.map((b, k) => drained.bytesRead[k] - b))
    maxLines = Math.max(maxLines, drained.linesQueued - full.linesQueued)
  }
  // a paused stream may still take one read (64 kB) into its buffer; an agent flat out sends far more meanwhile
  const reads = 2 * 64 * 1024
  t.ok(maxBytes <= reads, `at most ${reads} bytes read from an agent socket while paused: ${maxBytes}`)
  const slack = AGENTS.length * 45
  t.ok(maxLines <= slack, `lines taken in while paused: at most ${maxLines} (those already read, bound ${slack})`)
  t.ok(maxDepth <= QUEUE_MAX + slack, `queue depth stayed bounded: max ${maxDepth}`)

  for (const agentId of AGENTS) {
    const events = await allEvents(url, agentId)
    t.equal(seqProblem(events), null, `${agentId}: seq 1..${events.length} without gap or repeat`)
    t.same(events.map(e => e.content), sent.get(agentId), `${agentId}: all ${LINES} lines stored once, in order`)
  }
  t.comment(`${AGENTS.length * LINES} lines in ${elapsed} ms, ${fulls.length} pauses, max queue depth ${maxDepth}, ` +
    `at most ${maxBytes} bytes and ${maxLines} lines read while paused`)
})
