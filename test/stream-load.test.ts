// Live streams under load: the catch-up/live hand-over while an agent writes, 100 followers at once, stalled
// followers, and 1,000 followers that come and go without leaving anything behind.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, collect, sync, line, walk, history, listen, assistantText, postgresUrl, postgresSchema, type TestContext } from './helper.js'
import { httpBase, sse, wsFollow, type SseClient, type WsClient } from './support/live-client.js'

type Client = SseClient | WsClient

/** Checks that `got` is exactly from..to, one each, in order, and says where it first differs if not. */
function exactly (t: { ok: (ok: boolean, message: string, extra: object) => boolean }, got: number[], from: number, to: number, name: string): void {
  const want = to - from + 1
  let bad = got.length === want ? -1 : Math.min(got.length, want)
  for (let i = 0; i < Math.min(got.length, want) && bad === -1; i++) if (got[i] !== from + i) bad = i
  t.ok(bad === -1, `${name}: seq ${from}..${to} exactly, in order`, bad === -1
    ? {}
    : { at: bad, expected: from + bad, got: got.slice(Math.max(0, bad - 2), bad + 3), length: got.length, want })
}

/** Sends `count` one-event lines in frames of 1..20 lines, yielding to the server between frames. */
async function writeContinuously (ws: Awaited<ReturnType<FastifyInstance['injectWS']>>, count: number, maxText = 1): Promise<void> {
  let sent = 0
  while (sent < count) {
    const k = Math.min(1 + Math.floor(Math.random() * 20), count - sent)
    ws.send(Array.from({ length: k }, () => line(assistantText('x'.repeat(1 + Math.floor(Math.random() * maxText))))).join(''))
    sent += k
    // lets the writer commit and the followers read between frames: many small commits, not one big one
    await new Promise(resolve => setImmediate(resolve))
  }
}

async function setup (t: TestContext, env: Record<string, string> = {}) {
  const app = await build(t, { env })
  await listen(app)
  const base = httpBase(app)
  const ws = await app.injectWS('/ws/agent-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  return { app, base, wsBase: base.replace('http', 'ws'), ws, inbox }
}

const handOvers = [
  { buffer: '1000', postgres: false, total: 6000, joiners: 40 },
  { buffer: '10', postgres: false, total: 6000, joiners: 40 },
  // reads there are real I/O: commits land between a read's snapshot and its rows arriving
  { buffer: '1000', postgres: true, total: 3000, joiners: 20 }
]
for (const { buffer, postgres, total: TOTAL, joiners: JOINERS } of handOvers) {
  const skip = postgres && postgresUrl === '' ? 'DATABASE_URL is not set' : false
  test(`hand-over under concurrent writes (${postgres ? 'PostgreSQL, ' : ''}SUBSCRIBER_BUFFER=${buffer}): followers joining at random moments get exactly seq after+1..N`, { skip }, async (t) => {
    const { app, base, wsBase, ws, inbox } = await setup(t, { SUBSCRIBER_BUFFER: buffer, ...(postgres ? await postgresSchema(t) : {}) })
    const thresholds = Array.from({ length: JOINERS }, () => Math.floor(Math.random() * TOTAL * 0.9)).sort((a, b) => a - b)
    const followers: Array<Promise<{ client: Client, from: number, global: boolean, name: string }>> = []
    let committed = 0
    const off = app.events.onCommit((batch) => {
      committed += batch.length
      while (thresholds.length > 0 && thresholds[0] <= committed) {
        thresholds.shift()
        const i = followers.length
        // from the start, from somewhere behind the head (by after or by Last-Event-ID), over SSE or WebSocket
        const from = i % 3 === 0 ? 0 : Math.floor(Math.random() * committed)
        const global = i % 5 === 4
        const path = global ? '/stream' : '/agents/agent-1/events/stream'
        const name = `#${i} ${global ? 'global' : 'agent'} ${i % 2 === 0 ? 'SSE' : 'WS'}${i % 4 < 2 ? ' slow' : ''} from ${from} (joined near ${committed})`
        const query = from === 0 ? '' : `?after=${from}`
        // with one agent, event ids are in seq order; the global cursor is an id, so translate it
        const open = async (): Promise<Client> => {
          let q = query
          if (global && from > 0) q = `?after=${(await history(app, 'agent-1', `after=${from - 1}&limit=1`)).events[0].id}`
          // slow readers make the server wait for their sockets mid-page, so commits land anywhere in a catch-up
          const slow = i % 4 < 2
          if (i % 2 === 0) return sse(t, `${base}${path}${q}`, i % 4 === 2 && q !== '' ? { 'last-event-id': q.slice(7) } : {}, { slow })
          return wsFollow(t, `${wsBase}${global ? '/stream/ws' : '/agents/agent-1/events/ws'}${q}`, {}, { slow })
        }
        followers.push(open().then(client => ({ client, from, global, name })))
      }
    })
    t.teardown(off)

    await writeContinuously(ws, TOTAL, 2000)
    await sync(app, ws, inbox)
    t.equal(app.events.getAgent('agent-1')?.committed.lastSeq, TOTAL)
    const joined = await Promise.all(followers)
    t.equal(joined.length, JOINERS)
    for (const { client, from, global, name } of joined) {
      if (global) await client.through((await history(app, 'agent-1', `after=${TOTAL - 1}`)).events[0].id, 'id')
      else await client.through(TOTAL)
      // a slow follower may have been behind all along: it catches up once the writes stop
      await client.first('caught_up')
      const events = client.events()
      exactly(t, events.map(e => e.seq), from + 1, TOTAL, name)
      t.equal(client.messages.filter(m => m.event === 'caught_up').length, 1, `${name}: one caught_up`)
      if (global) t.ok(events.every((e, k) => k === 0 || e.id > events[k - 1].id), `${name}: ids ascend`)
    }
    if (buffer === '10') t.ok(app.live.stats.fellBehind > 0, 'the overflow path was taken')
    t.ok(app.live.stats.pagesFromDatabase > 0 && app.live.stats.pagesFromMemory > 0, 'caught up both from the database and from memory')
  })
}

test('hand-over while a follower\'s socket is full at the end of its catch-up: what is committed meanwhile still comes, once', async (t) => {
  const { app, base, wsBase, ws, inbox } = await setup(t)
  const big = 'x'.repeat(100 * 1024)
  // ~6 MB in one catch-up page: delivering it waits on the paused clients' sockets
  ws.send(Array.from({ length: 60 }, () => line(assistantText(big))).join(''))
  await sync(app, ws, inbox)
  const s = await sse(t, `${base}/agents/agent-1/events/stream`, {}, { paused: true })
  const w = await wsFollow(t, `${wsBase}/agents/agent-1/events/ws`)
  w.socket.pause()
  // committed while both are still delivering their only page: these reach them only through their buffers
  await writeContinuously(ws, 5)
  await sync(app, ws, inbox)
  t.ok(s.events().length < 60 && w.events().length < 60, 'both were still catching up')
  s.resume()
  w.socket.resume()
  for (const [name, c] of [['SSE', s], ['WebSocket', w]] as const) {
    // the marker comes after everything committed before the catch-up ended, the buffered five included
    const marker = await c.first('caught_up')
    exactly(t, c.events().map(e => e.seq), 1, 65, `${name} at caught_up`)
    t.same(marker.data.latest_seq, 65)
  }
  await writeContinuously(ws, 1)
  await sync(app, ws, inbox)
  for (const [name, c] of [['SSE', s], ['WebSocket', w]] as const) {
    await c.through(66)
    exactly(t, c.events().map(e => e.seq), 1, 66, name)
  }
  t.equal(app.live.stats.fellBehind, 0, 'the buffer held what came meanwhile')
})

test('fan-out: 100 concurrent SSE followers each get every event once, in order', async (t) => {
  const { app, base, ws, inbox } = await setup(t)
  await writeContinuously(ws, 100)
  await sync(app, ws, inbox)
  const clients = await Promise.all(Array.from({ length: 100 }, () => sse(t, `${base}/agents/agent-1/events/stream`)))
  // half of them are still catching up while the rest is written
  await Promise.all(clients.slice(0, 50).map(c => c.first('caught_up')))
  await writeContinuously(ws, 400)
  await sync(app, ws, inbox)
  t.equal(app.live.counts().followers, 100)
  for (const [i, c] of clients.entries()) {
    await c.through(500)
    exactly(t, c.events().map(e => e.seq), 1, 500, `follower ${i}`)
  }
  const stored = (await walk(app, 'agent-1')).map(e => JSON.stringify(e))
  t.same(clients[99].messages.filter(m => m.id !== undefined).map(m => m.raw), stored, 'what they got is what is stored')
})

test('stalled followers fall back to the database, hold bounded memory, and get everything in order once they read again', async (t) => {
  const { app, base, wsBase, ws, inbox } = await setup(t, { SUBSCRIBER_BUFFER: '10' })
  const url = `${base}/agents/agent-1/events/stream`
  const stalledSse = await sse(t, url, {}, { paused: true })
  const stalledWs = await wsFollow(t, `${wsBase}/agents/agent-1/events/ws`)
  stalledWs.socket.pause()
  const healthy = await sse(t, url)
  await healthy.first('caught_up')

  // ~30 MB: far more than the kernel's socket buffers hold, so the server's writes back up
  const TOTAL = 300
  const big = 'x'.repeat(100 * 1024)
  for (let i = 0; i < TOTAL; i += 10) {
    ws.send(Array.from({ length: 10 }, () => line(assistantText(big))).join(''))
  }
  await sync(app, ws, inbox)
  await healthy.through(TOTAL)
  exactly(t, healthy.events().map(e => e.seq), 1, TOTAL, 'a reading follower is not held up by stalled ones')
  t.ok(app.live.stats.fellBehind >= 2, `the stalled followers fell behind (${app.live.stats.fellBehind})`)
  t.ok(app.live.counts().buffered <= 3 * 10, 'nothing piles up in memory for them')
  t.ok(stalledSse.events().length < TOTAL && stalledWs.events().length < TOTAL, 'they really did stall')

  stalledSse.resume()
  stalledWs.socket.resume()
  await stalledSse.through(TOTAL)
  await stalledWs.through(TOTAL)
  exactly(t, stalledSse.events().map(e => e.seq), 1, TOTAL, 'stalled SSE')
  exactly(t, stalledWs.events().map(e => e.seq), 1, TOTAL, 'stalled WebSocket')
  t.ok(stalledSse.events().every(e => e.content === big), 'content intact')

  // and they are live again afterwards
  await writeContinuously(ws, 5)
  await sync(app, ws, inbox)
  await stalledSse.through(TOTAL + 5)
  await stalledWs.through(TOTAL + 5)
  exactly(t, stalledWs.events().map(e => e.seq), 1, TOTAL + 5, 'stalled WebSocket, then live')
})

test('a stalled global follower gets every event in id order and the latest connection state of each agent', async (t) => {
  const { app, base, ws, inbox } = await setup(t, { SUBSCRIBER_BUFFER: '10' })
  const g = await sse(t, `${base}/stream`, {}, { paused: true })
  const changes: string[] = []
  const changed = (agentId: string, state: string) => new Promise<void>((resolve) => {
    const off = app.agents.onChange((id, st) => { if (id === agentId && st === state) { off(); resolve() } })
  })
  t.teardown(app.agents.onChange((id, st) => changes.push(`${id}:${st}`)))
  const big = 'x'.repeat(100 * 1024)
  for (let i = 0; i < 200; i += 10) ws.send(Array.from({ length: 10 }, () => line(assistantText(big))).join(''))
  const upB = changed('b', 'connected')
  const b = await app.injectWS('/ws/b')
  await upB
  const downB = changed('b', 'disconnected')
  b.terminate()
  await downB
  const upC = changed('c', 'connected')
  const c = await app.injectWS('/ws/c')
  t.teardown(() => c.terminate())
  await upC
  await sync(app, ws, inbox)
  t.ok(app.live.stats.fellBehind >= 1, 'it fell behind')
  g.resume()
  const lastId = (await history(app, 'agent-1', 'after=199')).events[0].id
  await g.through(lastId, 'id')
  await g.until(all => all.some(m => m.event === 'agent' && m.data.agent_id === 'c'))
  exactly(t, g.events().map(e => e.seq), 1, 200, 'global, stalled')
  t.same(changes, ['b:connected', 'b:disconnected', 'c:connected'])
  const notices = g.messages.filter(m => m.event === 'agent').map(m => `${m.data.agent_id}:${m.data.state}`)
  t.same(notices.filter(n => n.startsWith('b:')).at(-1), 'b:disconnected', 'b is last seen gone')
  t.same(notices.filter(n => n.startsWith('c:')), ['c:connected'])
  t.same((await g.first('caught_up')).data.connected, ['agent-1'])
})

test('shutdown does not wait forever for a follower that stops reading', async (t) => {
  const { app, base, wsBase, ws, inbox } = await setup(t)
  const big = 'x'.repeat(100 * 1024)
  ws.send(Array.from({ length: 100 }, () => line(assistantText(big))).join(''))
  await sync(app, ws, inbox)
  const s = await sse(t, `${base}/agents/agent-1/events/stream`, {}, { paused: true })
  const w = await wsFollow(t, `${wsBase}/stream/ws`)
  w.socket.pause()
  ws.terminate()
  await app.close()
  t.same(app.live.counts(), { followers: 0, agents: 0, globals: 0, running: 0, buffered: 0, recent: 0, recentBytes: 0 })
  s.resume()
  w.socket.resume()
  await s.until(() => s.ended)
  await w.until(() => w.ended)
  t.ok(s.events().length < 100, 'it was cut off, not waited for')
})

test('1,000 followers connecting and disconnecting leave no follower, buffer, timer or connection behind', async (t) => {
  const { app, base, wsBase, ws, inbox } = await setup(t)
  await writeContinuously(ws, 520) // more than one catch-up page
  await sync(app, ws, inbox)
  const kinds = [
    () => sse(t, `${base}/agents/agent-1/events/stream`),
    () => wsFollow(t, `${wsBase}/agents/agent-1/events/ws?type=output`),
    () => sse(t, `${base}/stream?after=latest`),
    () => wsFollow(t, `${wsBase}/stream/ws`)
  ]
  let cycles = 0
  let seenCaughtUp = 0
  async function cycle (i: number): Promise<void> {
    const client = await kinds[i % 4]()
    // half leave as soon as they are in (mid catch-up), half once caught up
    if (i % 2 === 0) {
      await client.first('caught_up')
      seenCaughtUp++
    }
    client.close()
    cycles++
  }
  const lanes = Array.from({ length: 20 }, async (_, lane) => {
    for (let i = lane; i < 1000; i += 20) await cycle(i)
  })
  // an agent keeps writing meanwhile, so followers are fed live too
  await Promise.all([...lanes, writeContinuously(ws, 300)])
  t.equal(cycles, 1000)
  t.equal(seenCaughtUp, 500)
  await app.live.idle()
  t.same(app.live.counts(), { followers: 0, agents: 0, globals: 0, running: 0, buffered: 0, recent: 0, recentBytes: 0 })
  t.equal(app.websocketServer.clients.size, 1, 'no follower sockets: only the agent\'s is left')
  const connections = await new Promise<number>((resolve, reject) => app.server.getConnections((err, n) => err === null ? resolve(n) : reject(err)))
  t.equal(connections, 0, 'no HTTP connections')
  // still works afterwards
  await sync(app, ws, inbox)
  const last = await sse(t, `${base}/agents/agent-1/events/stream?after=815`)
  await last.first('caught_up')
  exactly(t, last.events().map(e => e.seq), 816, 820, 'a new follower')
})

test('a large event of characters outside the BMP reaches an SSE follower intact (pieces never split a surrogate pair)', async (t) => {
  const { app, base, ws, inbox } = await setup(t)
  const s = await sse(t, `${base}/agents/agent-1/events/stream`)
  // odd offsets too: a piece boundary falls inside some pair whatever the piece size
  const text = 'a' + '😀'.repeat(40000) + 'b'
  ws.send(line(assistantText(text)) + line(assistantText('x' + '😀'.repeat(30001))))
  await sync(app, ws, inbox)
  await s.through(2)
  t.same(s.events().map(e => e.content), [text, 'x' + '😀'.repeat(30001)])
})
