// The history endpoint: keyset walks in both directions, filters, bounds and errors, also while events are being written.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, collect, sync, line, history, walk, assistantText, resultLine, disconnected } from './helper.js'

/** An agent with 3 sessions and every kind of event: 40 turns of output, tool_use, tool_result, thinking, result. */
async function seeded (t: any): Promise<{ app: FastifyInstance, all: any[] }> {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '0' } })
  const ws = await app.injectWS('/ws/agent-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  let cost = 0
  for (let i = 0; i < 40; i++) {
    ws.send([
      assistantText(`out ${i}`),
      { type: 'assistant', message: { id: `m${i}`, content: [{ type: 'thinking', thinking: `think ${i}` }, { type: 'tool_use', id: `tu${i}`, name: 'Bash', input: { i } }] }, uuid: `a${i}` },
      { type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: `tu${i}`, content: `res ${i}` }] }, uuid: `u${i}` },
      resultLine(cost += 0.01)
    ].map(line).join(''))
    if (i === 14 || i === 29) {
      await sync(app, ws, inbox)
      await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
    }
  }
  await sync(app, ws, inbox)
  const all = (await history(app, 'agent-1', 'limit=1000')).events
  return { app, all }
}

test('following next_cursor visits every event exactly once, in order, both ways', async (t) => {
  const { app, all } = await seeded(t)
  t.equal(all.length, 40 * 6 + 2 * 2, 'six events a turn, and two clears with their outcome')
  t.same(all.map(e => e.seq), all.map((_, i) => i + 1))

  for (const limit of [1, 7, 100, 244, 1000]) {
    t.same((await walk(app, 'agent-1', '', limit)).map(e => e.seq), all.map(e => e.seq), `asc, limit ${limit}`)
    t.same((await walk(app, 'agent-1', 'order=desc', limit)).map(e => e.seq), all.map(e => e.seq).reverse(), `desc, limit ${limit}`)
  }
  const page = await history(app, 'agent-1', 'limit=10')
  t.match(page, { has_more: true, next_cursor: 10, latest_seq: all.length, oldest_seq: 1 })
  const last = await history(app, 'agent-1', `limit=10&after=${all.length - 10}`)
  t.match(last, { has_more: false, next_cursor: null })
  t.equal(last.events.length, 10)
  const exact = await history(app, 'agent-1', `limit=${all.length}`)
  t.match(exact, { has_more: false, next_cursor: null }, 'a page that ends exactly at the last event says so')
  const firstDesc = await history(app, 'agent-1', 'order=desc&limit=3')
  t.same(firstDesc.events.map((e: any) => e.seq), [all.length, all.length - 1, all.length - 2])
  t.equal(firstDesc.next_cursor, all.length - 2)
})

test('type, session, after and before filters combine with the walk', async (t) => {
  const { app, all } = await seeded(t)
  for (const type of ['output', 'tool_use', 'tool_result', 'thinking', 'result', 'activity_changed', 'context_cleared', 'context_clear_outcome']) {
    const expected = all.filter(e => e.event_type === type).map(e => e.seq)
    t.ok(expected.length > 0, `${type} is present`)
    t.same((await walk(app, 'agent-1', `type=${type}`, 7)).map(e => e.seq), expected, `type=${type}`)
  }
  const several = all.filter(e => ['tool_use', 'tool_result'].includes(e.event_type)).map(e => e.seq)
  t.same((await walk(app, 'agent-1', 'type=tool_use,%20tool_result', 9)).map(e => e.seq), several, 'comma-separated, spaces allowed')
  t.same((await walk(app, 'agent-1', 'type=tool_use,tool_result&order=desc', 9)).map(e => e.seq), [...several].reverse())

  for (const session of [0, 1, 2]) {
    const expected = all.filter(e => e.session_number === session).map(e => e.seq)
    t.ok(expected.length > 0)
    t.same((await walk(app, 'agent-1', `session=${session}`, 11)).map(e => e.seq), expected, `session=${session}`)
    t.same((await walk(app, 'agent-1', `session=${session}&order=desc`, 11)).map(e => e.seq), [...expected].reverse())
  }
  t.same((await history(app, 'agent-1', 'session=7')).events, [], 'a session with no events is an empty page')
  const outputsIn1 = all.filter(e => e.session_number === 1 && e.event_type === 'output').map(e => e.seq)
  t.same((await walk(app, 'agent-1', 'session=1&type=output', 4)).map(e => e.seq), outputsIn1)

  t.same((await walk(app, 'agent-1', 'after=100&before=111', 3)).map(e => e.seq), [101, 102, 103, 104, 105, 106, 107, 108, 109, 110])
  t.same((await walk(app, 'agent-1', 'after=100&before=111&order=desc', 3)).map(e => e.seq), [110, 109, 108, 107, 106, 105, 104, 103, 102, 101])
  t.same((await history(app, 'agent-1', 'after=100&before=101')).events, [])
  t.same((await history(app, 'agent-1', `after=${all.length}`)).events, [])
  t.same((await history(app, 'agent-1', 'before=1')).events, [])
})

test('a walk while events are being written sees each event once, in order, and then the rest', async (t) => {
  const app = await build(t, { env: { BATCH_MAX: '20' } })
  const ws = await app.injectWS('/ws/agent-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(Array.from({ length: 50 }, (_, i) => line(assistantText(`w ${i}`))).join(''))
  await sync(app, ws, inbox)
  const TOTAL = 2000
  let sent = 50
  const state = { writing: true }
  const writer = (async () => {
    while (sent < TOTAL) {
      ws.send(Array.from({ length: 10 }, () => line(assistantText(`w ${sent++}`))).join(''))
      await new Promise(resolve => setImmediate(resolve))
    }
    state.writing = false
  })()

  const seen: any[] = []
  let cursor = 0
  let pages = 0
  let pagesWhileWriting = 0
  while (state.writing || cursor < TOTAL) {
    const page = await history(app, 'agent-1', `after=${cursor}&limit=37`)
    pages++
    if (state.writing) pagesWhileWriting++
    seen.push(...page.events)
    if (page.events.length > 0) cursor = page.events[page.events.length - 1].seq
    t.ok(page.latest_seq >= cursor, 'latest_seq is never behind the page')
    // inject and SQLite resolve in microtasks: give the socket and the writer their turn, as network I/O would
    if (!state.writing) await sync(app, ws, inbox)
    else await new Promise(resolve => setImmediate(resolve))
  }
  await writer
  t.ok(pagesWhileWriting > 3, `the walk ran alongside the writes (${pagesWhileWriting} of ${pages} pages)`)
  t.same(seen.map(e => e.seq), Array.from({ length: TOTAL }, (_, i) => i + 1), 'each seq once, in order, no gap')
  t.same(seen.map(e => e.content), Array.from({ length: TOTAL }, (_, i) => `w ${i}`))
})

test('bad queries are 400 naming the parameter; an unknown agent is 404', async (t) => {
  const { app } = await seeded(t)
  for (const [query, name] of [
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=1.5', 'limit'],
    ['after=-1', 'after'],
    ['before=0', 'before'],
    ['after=abc', 'after'],
    ['session=-1', 'session'],
    ['session=x', 'session'],
    ['order=sideways', 'order'],
    ['type=bogus', 'type'],
    ['type=output,nope', 'type'],
    ['type=prompt', 'type']
  ]) {
    const res = await app.inject({ method: 'GET', url: `/agents/agent-1/events?${query}` })
    t.equal(res.statusCode, 400, query)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['code', 'error', 'message'], query)
    t.equal(body.error, 'Bad Request')
    t.match(body.message, new RegExp(`\\b${name}\\b`), `${query} names ${name}: ${body.message as string}`)
    t.notMatch(res.body, /at .*\.(ts|js):\d+/, 'no stack trace')
  }
  for (const query of ['limit=1', 'limit=1000', 'type=tool_result', 'after=0']) {
    t.equal((await app.inject({ method: 'GET', url: `/agents/agent-1/events?${query}` })).statusCode, 200, query)
  }
  const unknown = await app.inject({ method: 'GET', url: '/agents/nobody/events' })
  t.equal(unknown.statusCode, 404)
  t.match(unknown.json(), { error: 'Not Found', message: /nobody/ })
  const noRoute = await app.inject({ method: 'GET', url: '/nothing/here' })
  t.equal(noRoute.statusCode, 404)
  t.same(Object.keys(noRoute.json()).sort(), ['code', 'error', 'message'])
})

test('GET /agents lists agents with their state', async (t) => {
  const { app, all } = await seeded(t)
  const other = await app.injectWS('/ws/agent-0')
  const inbox = collect(other)
  other.send(line(assistantText('hi')))
  await sync(app, other, inbox)
  other.terminate()
  await disconnected(app, 'agent-0')
  const { agents } = (await app.inject({ method: 'GET', url: '/agents' })).json()
  t.same(agents.map((a: any) => a.agent_id), ['agent-0', 'agent-1'])
  t.match(agents[1], { connected: true, current_session: 2, last_seq: all.length, oldest_seq: 1, event_count: all.length })
  t.ok(Math.abs(agents[1].cost_usd - 0.4) < 1e-9, 'cost sums the growth of the counter')
  t.match(agents[0], { connected: false, current_session: 0, last_seq: 1, event_count: 1 })
  t.match(agents[0].last_connected_at, /Z$/)
  t.match(agents[0].last_seen_at, /Z$/)
})
