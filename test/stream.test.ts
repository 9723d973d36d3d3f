// Live streams: where they start, what they send and how, filters, errors, markers, the global feed, shutdown.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, collect, sync, line, history, walk, listen, assistantText, resultLine, closed, postgresUrl, postgresSchema, type TestContext } from './helper.js'
import { httpBase, sse, wsFollow, wsRefusal } from './support/live-client.js'

/** An agent on an in-process socket that writes `count` output events per call, and waits until they are committed. */
async function agent (t: TestContext, app: FastifyInstance, id: string) {
  const ws = await app.injectWS(`/ws/${id}`)
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  return {
    ws,
    async write (count: number, extra = '') {
      ws.send(Array.from({ length: count }, (_, i) => line(assistantText(`${extra}${i}`))).join(''))
      await sync(app, ws, inbox)
    },
    async turn () {
      ws.send(line(assistantText('answer')) + line(resultLine(0.01)))
      await sync(app, ws, inbox)
    }
  }
}

const seqs = (events: any[]) => events.map(e => e.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

test('SSE: from the start by default, then live; messages carry id, event type and the history JSON', async (t) => {
  const app = await build(t)
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'agent-1')
  await a.write(3)
  await a.turn() // output, result, activity_changed

  const s = await sse(t, `${base}/agents/agent-1/events/stream`)
  t.equal(s.status, 200)
  t.match(s.headers['content-type'], /^text\/event-stream/)
  t.equal(s.headers['cache-control'], 'no-cache, no-transform')
  const caught = await s.first('caught_up')
  t.same(caught.data, { latest_seq: 6 })
  t.equal(caught.id, undefined, 'markers carry no id, so a reconnect resumes from the last event')

  const stored = await walk(app, 'agent-1')
  const before = s.messages.slice(0, s.messages.indexOf(caught))
  t.same(before.map(m => m.id), ['1', '2', '3', '4', '5', '6'])
  t.same(before.map(m => m.event), ['output', 'output', 'output', 'output', 'result', 'activity_changed'])
  t.same(before.map(m => m.raw), stored.map(e => JSON.stringify(e)), 'data is the event exactly as history returns it')

  await a.turn()
  await s.through(9)
  t.same(seqs(s.events()), range(1, 9))
  t.same(s.messages.slice(-3).map(m => m.raw), (await history(app, 'agent-1', 'after=6')).events.map((e: any) => JSON.stringify(e)),
    'live events look exactly like stored ones')
  t.equal(s.messages.filter(m => m.event === 'caught_up').length, 1, 'one caught_up marker')
})

test('SSE: resume by after, by Last-Event-ID (which wins), and after=latest', async (t) => {
  const app = await build(t)
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'agent-1')
  await a.write(10)

  const byAfter = await sse(t, `${base}/agents/agent-1/events/stream?after=4`)
  await byAfter.first('caught_up')
  t.same(seqs(byAfter.events()), range(5, 10))

  const byHeader = await sse(t, `${base}/agents/agent-1/events/stream?after=2`, { 'last-event-id': '7' })
  await byHeader.first('caught_up')
  t.same(seqs(byHeader.events()), range(8, 10), 'Last-Event-ID wins over after')

  const latest = await sse(t, `${base}/agents/agent-1/events/stream?after=latest`)
  t.same((await latest.first('caught_up')).data, { latest_seq: 10 })
  t.same(latest.events(), [], 'nothing old')

  const beyond = await sse(t, `${base}/agents/agent-1/events/stream?after=10`)
  await beyond.first('caught_up')

  await a.write(2)
  for (const s of [byAfter, byHeader, latest, beyond]) await s.through(12)
  t.same(seqs(byAfter.events()), range(5, 12))
  t.same(seqs(byHeader.events()), range(8, 12))
  t.same(seqs(latest.events()), [11, 12])
  t.same(seqs(beyond.events()), [11, 12])

  // a client that reconnects with what it saw last gets exactly the rest
  byAfter.close()
  await a.write(3)
  const again = await sse(t, `${base}/agents/agent-1/events/stream`, { 'last-event-id': byAfter.messages.filter(m => m.id !== undefined).at(-1)?.id ?? '' })
  await again.first('caught_up')
  t.same(seqs(again.events()), range(13, 15))
})

test('SSE and WebSocket: session and type filters, like history', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '10' } })
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'agent-1')
  await a.turn() // session 0: 1 output, 2 result, 3 activity_changed
  const cleared = await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  t.equal(cleared.statusCode, 200)
  await app.events.flush()
  await a.turn() // session 1

  const types = await sse(t, `${base}/agents/agent-1/events/stream?type=result,context_cleared`)
  const session = await sse(t, `${base}/agents/agent-1/events/stream?session=1&type=output,result`)
  const wsSession = await wsFollow(t, `${base.replace('http', 'ws')}/agents/agent-1/events/ws?session=1`)
  for (const s of [types, session, wsSession]) await s.first('caught_up')

  const all = await walk(app, 'agent-1')
  const want = (pred: (e: any) => boolean) => all.filter(pred)
  t.same(types.events(), want(e => e.event_type === 'result' || e.event_type === 'context_cleared'))
  t.same(session.events(), want(e => e.session_number === 1 && (e.event_type === 'output' || e.event_type === 'result')))
  t.same(wsSession.events(), want(e => e.session_number === 1))
  t.ok(types.events().length >= 3 && session.events().length === 2, 'the filters matched something')

  await a.turn()
  const head = app.events.getAgent('agent-1')?.committed.lastSeq as number
  await types.until(() => types.events().some(e => e.seq > head - 2))
  await wsSession.through(head)
  const after = await walk(app, 'agent-1')
  t.same(types.events(), after.filter(e => e.event_type === 'result' || e.event_type === 'context_cleared'))
  t.same(wsSession.events(), after.filter(e => e.session_number === 1))
})

test('bad parameters are 400 and unknown agents 404, with an error body, on SSE and WebSocket', async (t) => {
  const app = await build(t)
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'agent-1')
  await a.write(1)

  const cases: Array<[string, Record<string, string>, number, RegExp]> = [
    ['/agents/agent-1/events/stream?type=bogus', {}, 400, /unknown event type "bogus"/],
    ['/agents/agent-1/events/stream?after=abc', {}, 400, /after/],
    ['/agents/agent-1/events/stream?after=-1', {}, 400, /after/],
    ['/agents/agent-1/events/stream?session=x', {}, 400, /session/],
    ['/agents/agent-1/events/stream', { 'last-event-id': 'nope' }, 400, /last-event-id/],
    ['/agents/nobody/events/stream', {}, 404, /agent "nobody" is not known/],
    ['/agents/bad%20id/events/stream', {}, 400, /agentId/],
    ['/stream?agents=ok,bad%20id', {}, 400, /invalid agent id/],
    ['/stream?type=nope', {}, 400, /unknown event type/]
  ]
  for (const [path, headers, status, message] of cases) {
    const res = await app.inject({ method: 'GET', url: path, headers })
    t.equal(res.statusCode, status, path)
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message'], path)
    t.match(res.json().message, message, path)
  }

  const wsBase = base.replace('http', 'ws')
  const unknown = await wsRefusal(`${wsBase}/agents/nobody/events/ws`)
  t.equal(unknown.status, 404)
  t.match(JSON.parse(unknown.body), { error: 'Not Found', message: /not known/ })
  const badType = await wsRefusal(`${wsBase}/agents/agent-1/events/ws?type=bogus`)
  t.equal(badType.status, 400)
  t.match(JSON.parse(badType.body).message, /unknown event type/)
  const badAfter = await wsRefusal(`${wsBase}/stream/ws?after=soon`)
  t.equal(badAfter.status, 400)
  t.same(app.live.counts(), { followers: 0, agents: 0, globals: 0, running: 0, buffered: 0, recent: 0, recentBytes: 0 }, 'refused requests hold nothing')
})

test('WebSocket: one JSON event per message, caught_up marker, then live; resume by after', async (t) => {
  const app = await build(t)
  const base = httpBase(await listenOn(app)).replace('http', 'ws')
  const a = await agent(t, app, 'agent-1')
  await a.write(5)

  const w = await wsFollow(t, `${base}/agents/agent-1/events/ws?after=2`)
  const caught = await w.first('caught_up')
  t.same(caught.data, { type: 'caught_up', latest_seq: 5 })
  t.same(w.messages.slice(0, 3).map(m => m.raw), (await history(app, 'agent-1', 'after=2')).events.map((e: any) => JSON.stringify(e)))

  await a.write(2)
  await w.through(7)
  t.same(seqs(w.events()), range(3, 7))

  const empty = await app.inject({ method: 'POST', url: '/agents/quiet/clear-context' })
  t.equal(empty.statusCode, 404)
  // a known agent without events catches up at 0 and then follows
  const q = await agent(t, app, 'quiet')
  await app.events.flush()
  const wq = await wsFollow(t, `${base}/agents/quiet/events/ws`)
  t.same((await wq.first('caught_up')).data, { type: 'caught_up', latest_seq: 0 })
  await q.write(1)
  await wq.through(1)
  t.same(seqs(wq.events()), [1])
})

test('SSE heartbeat comments every HEARTBEAT_MS; WebSocket followers are pinged', async (t) => {
  const app = await build(t, { env: { HEARTBEAT_MS: '20' } })
  const base = httpBase(await listenOn(app))
  await agent(t, app, 'agent-1')
  await app.events.flush()
  const s = await sse(t, `${base}/agents/agent-1/events/stream`)
  await s.heartbeat()
  t.ok(s.comments.includes('heartbeat'))
  const w = await wsFollow(t, `${base.replace('http', 'ws')}/agents/agent-1/events/ws`)
  await new Promise<void>(resolve => w.socket.once('ping', () => resolve()))
  t.pass('pinged')
})

test('catch-up reads recent events from memory and older ones from the database, meeting exactly', async (t) => {
  const app = await build(t)
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'agent-1')
  await a.write(10)
  // the first follower starts the in-memory window at the head (10)
  const first = await sse(t, `${base}/agents/agent-1/events/stream?after=latest`)
  await first.first('caught_up')
  await a.write(5)
  await first.through(15)
  const before = { ...app.live.stats }
  const followers = await Promise.all([8, 9, 10, 11].map(async after => {
    const s = await sse(t, `${base}/agents/agent-1/events/stream?after=${after}`)
    await s.first('caught_up')
    return { after, s }
  }))
  for (const { after, s } of followers) t.same(seqs(s.events()), range(after + 1, 15), `after=${after}`)
  t.equal(app.live.stats.pagesFromDatabase - before.pagesFromDatabase, 2, 'after=8 and after=9 need the database')
  t.equal(app.live.stats.pagesFromMemory - before.pagesFromMemory, 2, 'after=10 and after=11 do not')
})

test('truncation: a position older than the retained window gets truncated { oldest_seq } first', async (t) => {
  const app = await build(t, { env: { EVENTS_MAX_PER_AGENT: '50' } })
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'agent-1')
  await a.write(200)
  const oldest = app.events.getAgent('agent-1')?.committed.oldestSeq as number
  t.equal(oldest, 151, 'retention kept the newest 50')

  const old = await sse(t, `${base}/agents/agent-1/events/stream?after=10`)
  await old.first('caught_up')
  t.same(old.messages[0], { event: 'truncated', id: undefined, raw: '{"oldest_seq":151}', data: { oldest_seq: 151 } })
  t.same(seqs(old.events()), range(151, 200))

  const fromZero = await sse(t, `${base}/agents/agent-1/events/stream`, { 'last-event-id': '0' })
  await fromZero.first('caught_up')
  t.equal(fromZero.messages[0].event, 'truncated', 'Last-Event-ID 0 asks for seq 1, which is gone')

  const filtered = await wsFollow(t, `${base.replace('http', 'ws')}/agents/agent-1/events/ws?after=100&type=result`)
  await filtered.first('caught_up')
  t.same(filtered.messages.map(m => m.event), ['truncated', 'caught_up'], 'noticed even when no retained event matches')
  t.same(filtered.messages[0].data, { type: 'truncated', oldest_seq: 151 })

  const edge = await sse(t, `${base}/agents/agent-1/events/stream?after=150`)
  const start = await sse(t, `${base}/agents/agent-1/events/stream`)
  for (const s of [edge, start]) {
    await s.first('caught_up')
    t.equal(s.messages[0].event, 'output', 'nothing is missing from here')
    t.same(seqs(s.events()), range(151, 200))
  }
  t.ok(app.live.stats.truncations >= 3)
})

test('global stream: every agent by event id, agents filter, connect/disconnect notices, resume by Last-Event-ID', async (t) => {
  const app = await build(t)
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'alpha')
  const b = await agent(t, app, 'beta')
  await a.write(2)
  await b.write(2)
  await a.write(1)

  const all = await sse(t, `${base}/stream`)
  const onlyBeta = await sse(t, `${base}/stream?agents=beta`)
  const ws = await wsFollow(t, `${base.replace('http', 'ws')}/stream/ws?agents=alpha,gamma`)
  const caught = await all.first('caught_up')
  const ids = all.events().map(e => e.id)
  t.same(all.events().map(e => `${e.agent_id}:${e.seq}`), ['alpha:1', 'alpha:2', 'beta:1', 'beta:2', 'alpha:3'])
  t.same(all.messages.filter(m => m.id !== undefined).map(m => Number(m.id)), ids, 'the SSE id is the event id')
  t.same(ids, [...ids].sort((x, y) => x - y))
  t.same(caught.data, { latest_id: ids.at(-1), connected: ['alpha', 'beta'] })
  t.same((await onlyBeta.first('caught_up')).data, { latest_id: ids.at(-1), connected: ['beta'] })
  t.same(onlyBeta.events().map(e => `${e.agent_id}:${e.seq}`), ['beta:1', 'beta:2'])
  t.same((await ws.first('caught_up')).data, { type: 'caught_up', latest_id: ids.at(-1), connected: ['alpha'] })

  const g = await agent(t, app, 'gamma')
  await g.write(1)
  a.ws.terminate()
  await ws.until(all => all.some(m => m.event === 'agent' && m.data.agent_id === 'alpha' && m.data.state === 'disconnected'))
  const notices = ws.messages.filter(m => m.event === 'agent').map(m => `${m.data.agent_id}:${m.data.state}`)
  t.same(notices, ['gamma:connected', 'alpha:disconnected'])
  t.same(ws.events().map(e => `${e.agent_id}:${e.seq}`), ['alpha:1', 'alpha:2', 'alpha:3', 'gamma:1'])
  await all.until(m => m.some(x => x.event === 'agent' && x.data.agent_id === 'alpha'))
  const notice = all.messages.find(m => m.event === 'agent' && m.data.agent_id === 'alpha')
  t.equal(notice?.id, undefined, 'notices carry no id')
  t.match(notice?.data, { agent_id: 'alpha', state: 'disconnected', at: /^\d{4}-/ })
  t.notOk(onlyBeta.messages.some(m => m.event === 'agent'), 'filtered notices')

  // resume from the middle by id, and only new ones with after=latest
  const resumed = await sse(t, `${base}/stream`, { 'last-event-id': String(ids[2]) })
  const latest = await sse(t, `${base}/stream?after=latest&agents=beta`)
  await resumed.first('caught_up')
  await latest.first('caught_up')
  t.same(resumed.events().map(e => `${e.agent_id}:${e.seq}`), ['beta:2', 'alpha:3', 'gamma:1'])
  await b.write(1)
  await latest.until(() => latest.events().length === 1)
  t.same(latest.events().map(e => `${e.agent_id}:${e.seq}`), ['beta:3'])
})

test('shutdown: SSE followers get event: shutdown and the end of the stream, WebSocket followers close 1001', async (t) => {
  const app = await build(t)
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'agent-1')
  await a.write(1)
  const s = await sse(t, `${base}/agents/agent-1/events/stream`)
  const g = await sse(t, `${base}/stream`)
  const w = await wsFollow(t, `${base.replace('http', 'ws')}/agents/agent-1/events/ws`)
  const wg = await wsFollow(t, `${base.replace('http', 'ws')}/stream/ws`)
  for (const c of [s, g, w, wg]) await c.first('caught_up')
  const codes = Promise.all([closed(w.socket), closed(wg.socket)])
  a.ws.terminate()
  await app.close()
  for (const c of [s, g]) {
    await c.until(() => c.ended)
    t.same(c.messages.at(-1), { event: 'shutdown', id: undefined, raw: '{"reason":"server shutting down"}', data: { reason: 'server shutting down' } })
  }
  t.same((await codes).map(c => c.code), [1001, 1001])
  t.same(app.live.counts(), { followers: 0, agents: 0, globals: 0, running: 0, buffered: 0, recent: 0, recentBytes: 0 })
})

test('postgres: catch-up, filters, truncation and live hand-over', { skip: postgresUrl === '' ? 'DATABASE_URL is not set' : false }, async (t) => {
  const app = await build(t, { env: { ...await postgresSchema(t), EVENTS_MAX_PER_AGENT: '50' } })
  const base = httpBase(await listenOn(app))
  const a = await agent(t, app, 'pg-1')
  await a.write(60)
  await a.turn() // 61 output, 62 result, 63 activity_changed
  const s = await sse(t, `${base}/agents/pg-1/events/stream?after=5`)
  const f = await sse(t, `${base}/agents/pg-1/events/stream?after=5&type=result`)
  const g = await sse(t, `${base}/stream?agents=pg-1`, { 'last-event-id': '0' })
  for (const c of [s, f, g]) await c.first('caught_up')
  t.same(s.messages[0].data, { oldest_seq: 14 })
  t.same(seqs(s.events()), range(14, 63))
  t.same(f.messages.map(m => m.event), ['truncated', 'result', 'caught_up'])
  t.same(seqs(g.events()), range(14, 63))
  await a.write(2)
  await s.through(65)
  await g.until(() => g.events().length === 52)
  t.same(seqs(s.events()), range(14, 65))
  t.same(seqs(g.events()), range(14, 65))
})

async function listenOn (app: FastifyInstance): Promise<FastifyInstance> {
  await listen(app)
  return app
}
