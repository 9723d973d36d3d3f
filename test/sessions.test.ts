// Session numbering (barrier, reconnects, restarts), re-send dedupe and cost accounting across processes and restarts.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, collect, sync, line, walk, sessionsOf, tempDatabasePath, assistantText, resultLine, disconnected } from './helper.js'

const near = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9
const tick = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

async function clear (app: FastifyInstance, id = 'agent-1'): Promise<any> {
  const res = await app.inject({ method: 'POST', url: `/agents/${id}/clear-context` })
  if (res.statusCode !== 200) throw new Error(`clear-context ${res.statusCode}: ${res.body}`)
  return res.json()
}

/** Connects and sends `frames` in the same tick the socket opens: the first thing the server sees. */
async function connectAndSend (app: FastifyInstance, frames: string[], headers: Record<string, string> = {}): Promise<{ ws: WebSocket, inbox: ReturnType<typeof collect> }> {
  let inbox: ReturnType<typeof collect> | undefined
  const ws = await app.injectWS('/ws/agent-1', { headers }, {
    onOpen: (socket) => {
      inbox = collect(socket)
      for (const f of frames) socket.send(f)
    }
  })
  return { ws, inbox: inbox as ReturnType<typeof collect> }
}

interface Asserts { ok: (value: any, ...rest: any[]) => unknown, fail: (...rest: any[]) => unknown }

/** The invariant: seq gapless from the oldest, session numbers never go down, each new session opens with context_cleared. */
function checkSessions (t: Asserts, events: any[]): void {
  let last = -1
  let ok = true
  for (let i = 0; i < events.length; i++) {
    const e = events[i]
    if (i > 0 && e.seq !== events[i - 1].seq + 1) { ok = false; t.fail(`gap before seq ${e.seq as number}`) }
    if (e.session_number < last) { ok = false; t.fail(`seq ${e.seq as number} went back to session ${e.session_number as number}`) }
    if (e.session_number > last && last !== -1) {
      if (e.event_type !== 'context_cleared' || e.session_number !== last + 1 || e.metadata.session_number !== e.session_number || e.metadata.previous_session !== last) {
        ok = false
        t.fail(`session ${e.session_number as number} does not open with its context_cleared (seq ${e.seq as number}: ${e.event_type as string})`)
      }
    }
    if (e.event_type === 'context_cleared' && (i === 0 || events[i - 1].session_number !== e.session_number - 1)) {
      ok = false
      t.fail(`context_cleared at seq ${e.seq as number} is not the first event of its session`)
    }
    last = e.session_number
  }
  t.ok(ok, `session numbering holds over ${events.length} events`)
}

test('clear-context racing a continuous burst: every event\'s session agrees with its seq', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '0', BATCH_MAX: '25' } })
  const ws = await app.injectWS('/ws/agent-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  const TOTAL = 1500
  const progress = { sent: 0 }
  const streaming = (async () => {
    while (progress.sent < TOTAL) {
      const n = Math.min(1 + (progress.sent % 3), TOTAL - progress.sent)
      let frame = ''
      for (let k = 0; k < n; k++) frame += line(assistantText(`line ${progress.sent++}`))
      ws.send(frame)
      await tick()
    }
  })()
  // each clear is fired mid-stream and not awaited: its barrier is set when the request is handled,
  // while earlier lines are still being received and written
  const clears: Array<Promise<any>> = []
  for (let c = 0; c < 6; c++) {
    const target = Math.floor((TOTAL / 7) * (c + 1))
    while (progress.sent < target) await tick()
    clears.push(clear(app))
  }
  await streaming
  const answers = await Promise.all(clears)
  await sync(app, ws, inbox)

  t.same(answers.map(a => [a.previous_session, a.session_number]), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]])
  const events = await walk(app, 'agent-1')
  t.equal(events[0].seq, 1)
  checkSessions(t, events)
  const outputs = events.filter(e => e.event_type === 'output')
  t.same(outputs.map(e => e.content), Array.from({ length: TOTAL }, (_, i) => `line ${i}`), 'every line once, in order')
  const used = new Set(outputs.map(e => e.session_number))
  t.ok(used.size >= 5, `the burst spans the clears (sessions ${[...used].join(',')})`)

  const s = await sessionsOf(app, 'agent-1')
  t.equal(s.current_session, 6)
  t.same(s.sessions.map((x: any) => x.session_number), [0, 1, 2, 3, 4, 5, 6])
  for (const x of s.sessions) {
    const mine = events.filter(e => e.session_number === x.session_number)
    t.same([x.first_seq, x.last_seq, x.event_count], [mine[0].seq, mine[mine.length - 1].seq, mine.length], `session ${x.session_number as number} bounds`)
  }
})

test('events right after a reconnect get the current session, also after a restart', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { CLEAR_CONTEXT_WAIT_MS: '0' }
  let app = await build(t, { env, databasePath })
  let { ws, inbox } = await connectAndSend(app, [line(assistantText('s0'))])
  for (const n of [1, 2, 3]) {
    await sync(app, ws, inbox)
    t.equal((await clear(app)).session_number, n)
    ws.send(line(assistantText(`s${n}`)))
  }
  await sync(app, ws, inbox)
  ws.terminate()
  await disconnected(app, 'agent-1')

  // the same process reconnects and talks at once
  ;({ ws, inbox } = await connectAndSend(app, [line(assistantText('reconnected')), line(resultLine(0.1))], { 'x-last-request-id': 'r1' }))
  await sync(app, ws, inbox)
  let events = await walk(app, 'agent-1')
  t.same(events.filter(e => e.event_type === 'output').map(e => [e.content, e.session_number]),
    [['s0', 0], ['s1', 1], ['s2', 2], ['s3', 3], ['reconnected', 3]])
  t.ok(events.slice(-3).every(e => e.session_number === 3))
  ws.terminate()
  await app.close()

  // a restart on the same file: the session is read back, not counted from 0
  app = await build(t, { env, databasePath })
  const before = (await app.inject({ method: 'GET', url: '/agents' })).json().agents[0]
  t.match(before, { agent_id: 'agent-1', connected: false, current_session: 3 })
  ;({ ws, inbox } = await connectAndSend(app, [line(assistantText('after restart'))]))
  t.teardown(() => ws.terminate())
  await sync(app, ws, inbox)
  t.equal((await clear(app)).session_number, 4)
  ws.send(line(assistantText('in 4')))
  await sync(app, ws, inbox)
  events = await walk(app, 'agent-1')
  checkSessions(t, events)
  t.same(events.filter(e => e.event_type === 'output').slice(-2).map(e => [e.content, e.session_number]), [['after restart', 3], ['in 4', 4]])
  t.equal(events[events.length - 1].seq, events.length, 'seq continues after the restart')
  t.equal((await sessionsOf(app, 'agent-1')).current_session, 4)
})

test('clear-context after a restart, before the agent is back, starts the next session', async (t) => {
  const databasePath = tempDatabasePath(t)
  let app = await build(t, { databasePath })
  let { ws, inbox } = await connectAndSend(app, [line(assistantText('one'))])
  await sync(app, ws, inbox)
  ws.terminate()
  await disconnected(app, 'agent-1')
  t.equal((await clear(app)).agent_context, 'not_connected')
  t.equal((await clear(app)).session_number, 2)
  await app.close()
  app = await build(t, { databasePath })
  t.same(await clear(app), { agent_id: 'agent-1', session_number: 3, previous_session: 2, agent_context: 'not_connected' })
  ;({ ws, inbox } = await connectAndSend(app, [line(assistantText('two'))]))
  t.teardown(() => ws.terminate())
  await sync(app, ws, inbox)
  const events = await walk(app, 'agent-1')
  checkSessions(t, events)
  t.same(events.map(e => [e.event_type, e.session_number]), [['output', 0], ['context_cleared', 1], ['context_cleared', 2], ['context_cleared', 3], ['output', 3]])
})

test('re-sent lines (same uuid) store nothing: same connection, after a reconnect, after a restart', async (t) => {
  const databasePath = tempDatabasePath(t)
  let app = await build(t, { databasePath })
  const turn = [
    assistantText('thinking done'),
    { type: 'assistant', message: { id: 'm2', role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } }] }, session_id: 'sess-1', uuid: 'u-tool' },
    { type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'a\nb' }] }, session_id: 'sess-1', uuid: 'u-result' },
    resultLine(0.5)
  ]
  const frame = turn.map(line).join('')
  let { ws, inbox } = await connectAndSend(app, [frame, frame]) // twice in a row on one connection
  ws.send(line(turn[3])) // and the result alone once more
  await sync(app, ws, inbox)
  const first = await walk(app, 'agent-1')
  t.same(first.map(e => e.event_type), ['output', 'tool_use', 'tool_result', 'result', 'activity_changed'])

  // the same process comes back and re-sends its buffer (what 2.1.120 does), then says something new
  ws.terminate()
  ;({ ws, inbox } = await connectAndSend(app, [frame, line(assistantText('new after reconnect'))], { 'x-last-request-id': 'x' }))
  await sync(app, ws, inbox)
  t.same((await walk(app, 'agent-1')).map(e => e.content).slice(first.length), ['new after reconnect'])
  ws.terminate()
  await app.close()

  app = await build(t, { databasePath })
  ;({ ws, inbox } = await connectAndSend(app, [frame], { 'x-last-request-id': 'y' }))
  t.teardown(() => ws.terminate())
  ws.send(line(resultLine(0.75)))
  await sync(app, ws, inbox)
  const all = await walk(app, 'agent-1')
  t.same(all.map(e => e.event_type), ['output', 'tool_use', 'tool_result', 'result', 'activity_changed', 'output', 'result', 'activity_changed'])
  const s = await sessionsOf(app, 'agent-1')
  t.ok(near(s.sessions[0].cost_usd, 0.75), `cost not double counted (${s.sessions[0].cost_usd as number})`)
  t.equal(s.sessions[0].input_tokens, 200, 'tokens of two turns, not four')
  t.equal(all[6].metadata.cost_usd, 0.25)
})

test('cost_usd is the growth of the process\'s cumulative counter; sessions sum it and the turn tokens', async (t) => {
  const databasePath = tempDatabasePath(t)
  let app = await build(t, { databasePath, env: { CLEAR_CONTEXT_WAIT_MS: '0' } })
  let { ws, inbox } = await connectAndSend(app, [[0.5, 0.75, 0.75, 1].map(c => line(resultLine(c))).join('')])
  await sync(app, ws, inbox)
  ws.terminate()
  // the same process reconnects: its counter goes on
  ;({ ws, inbox } = await connectAndSend(app, [line(resultLine(1.5))], { 'x-last-request-id': 'r' }))
  await sync(app, ws, inbox)
  await clear(app)
  // a counter that goes down (2.1.331 restarts it at a clear) starts a new baseline
  ws.send(line(resultLine(0)) + line(resultLine(0.2)))
  await sync(app, ws, inbox)
  ws.terminate()
  // a new process (no x-last-request-id) with a new conversation counts from zero
  ;({ ws, inbox } = await connectAndSend(app, [line(resultLine(0.3, { session_id: 'sess-2' })) + line(resultLine(0.35, { session_id: 'sess-2' }))]))
  await sync(app, ws, inbox)
  ws.terminate()
  await app.close()

  // after a restart the baseline of the process is still known
  app = await build(t, { databasePath })
  ;({ ws, inbox } = await connectAndSend(app, [line(resultLine(0.5))], { 'x-last-request-id': 'r2' }))
  t.teardown(() => ws.terminate())
  await sync(app, ws, inbox)

  const results = (await walk(app, 'agent-1', 'type=result')).map(e => e.metadata.cost_usd)
  const expected = [0.5, 0.25, 0, 0.25, 0.5, 0, 0.2, 0.3, 0.05, 0.15]
  t.equal(results.length, expected.length)
  t.ok(results.every((c, i) => near(c, expected[i])), `per-result cost ${JSON.stringify(results)}`)

  const s = await sessionsOf(app, 'agent-1')
  t.same(s.sessions.map((x: any) => x.session_number), [0, 1])
  t.ok(near(s.sessions[0].cost_usd, 1.5), 'session 0')
  t.ok(near(s.sessions[1].cost_usd, 0.7), 'session 1')
  t.match(s.sessions[0], { input_tokens: 500, output_tokens: 100, cache_read_tokens: 15, cache_creation_tokens: 20 })
  t.match(s.sessions[1], { input_tokens: 500, output_tokens: 100, cache_read_tokens: 15, cache_creation_tokens: 20 })
  const agent = (await app.inject({ method: 'GET', url: '/agents' })).json().agents[0]
  t.ok(near(agent.cost_usd, 2.2), 'agent total')
  t.equal(agent.input_tokens, 1000)
  t.equal(agent.output_tokens, 200)
})

test('sessions endpoint: 404 for an unknown agent; bounds and counts per session', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '0' } })
  t.equal((await app.inject({ method: 'GET', url: '/agents/nobody/sessions' })).statusCode, 404)
  const { ws, inbox } = await connectAndSend(app, [line(assistantText('a')) + line(resultLine(0.1))])
  t.teardown(() => ws.terminate())
  await sync(app, ws, inbox)
  await clear(app)
  ws.send(line(assistantText('b')))
  await sync(app, ws, inbox)
  const s = await sessionsOf(app, 'agent-1')
  t.equal(s.current_session, 1)
  t.match(s.sessions, [
    { session_number: 0, first_seq: 1, last_seq: 3, event_count: 3, cost_usd: 0.1, input_tokens: 100, output_tokens: 20 },
    { session_number: 1, first_seq: 4, last_seq: 6, event_count: 3, cost_usd: 0, input_tokens: 0 }
  ])
  for (const x of s.sessions) {
    t.match(x.started_at, /Z$/)
    t.ok(x.ended_at >= x.started_at)
  }
})
