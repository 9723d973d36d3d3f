// Graceful shutdown: agents are told 1001, and every line received before the close is on disk afterwards.
import { test } from 'tap'
import { connect as tcpConnect } from 'node:net'
import { build, collect, sync, line, walk, listen, connect, closed, tempDatabasePath, assistantText } from './helper.js'
import { startServer, openAgent } from './support/server-process.js'

const burst = (from: number, n: number): string => Array.from({ length: n }, (_, i) => line(assistantText(`line ${from + i}`))).join('')

test('app.close() right after a burst: a new app on the same file has every line', async (t) => {
  const databasePath = tempDatabasePath(t)
  const app = await build(t, { databasePath, env: { BATCH_MAX: '50' } })
  const url = await listen(app)
  const ws = await connect(t, `${url}/ws/agent-1`)
  const bye = closed(ws)
  let committedAtClose = -1
  let committed = 0
  app.events.onCommit((events) => { committed += events.length })
  // small batches: most of these are still on the socket or in the write queue when close() starts
  for (let i = 0; i < 3000; i += 100) ws.send(burst(i, 100))
  const closing = app.close()
  committedAtClose = committed
  await closing
  t.same(await bye, { code: 1001, reason: 'server shutting down' })
  t.ok(committedAtClose < 3000, `close() started before the lines were written (${committedAtClose} were)`)

  const again = await build(t, { databasePath })
  const events = await walk(again, 'agent-1')
  t.equal(events.length, 3000)
  t.same(events.map(e => e.content), Array.from({ length: 3000 }, (_, i) => `line ${i}`), 'all of them, in order')
  t.same(events.map(e => e.seq), events.map((_, i) => i + 1))
})

test('a prompt and a clear-context in the queue at close are stored too', async (t) => {
  const databasePath = tempDatabasePath(t)
  const app = await build(t, { databasePath, env: { CLEAR_CONTEXT_WAIT_MS: '0' } })
  const url = await listen(app)
  const ws = await connect(t, `${url}/ws/agent-1`)
  const inbox = collect(ws)
  ws.send(burst(0, 10))
  await sync(app, ws, inbox)
  await app.inject({ method: 'POST', url: '/agents/agent-1/messages', payload: { content: 'go' } })
  await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  ws.send(burst(10, 500))
  await app.close()
  const again = await build(t, { databasePath })
  const events = await walk(again, 'agent-1')
  t.same(events.slice(10, 14).map(e => [e.event_type, e.session_number]), [
    ['prompt_sent', 0], ['activity_changed', 0], ['context_cleared', 1], ['context_clear_outcome', 1]
  ])
  t.equal(events.filter(e => e.event_type === 'output').length, 510)
  t.ok(events.slice(14).every(e => e.session_number === 1))
})

test('SIGTERM to the real server: agents get 1001, the process exits 0, nothing received is lost', { timeout: 60000 }, async (t) => {
  const databasePath = tempDatabasePath(t)
  const server = await startServer(t, { databasePath, env: { BATCH_MAX: '50' } })
  const ws = await openAgent(server.wsUrl, 'agent-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  const bye = closed(ws)
  for (let i = 0; i < 2000; i += 100) ws.send(burst(i, 100))
  ws.send(line({ type: 'control_request', request_id: 'mark', request: { subtype: 'can_use_tool', tool_name: 'X', input: {} } }))
  await inbox.next(m => m.response?.request_id === 'mark')
  for (let i = 2000; i < 2500; i += 100) ws.send(burst(i, 100))

  const exit = await server.stop()
  t.same(exit, { code: 0, signal: null }, 'a clean exit')
  t.same(await bye, { code: 1001, reason: 'server shutting down' })
  t.ok(server.logs.some(l => /shutting down/.test(l.msg)), 'the shutdown was logged')

  const app = await build(t, { databasePath })
  const events = await walk(app, 'agent-1')
  t.equal(events.length, 2500)
  t.same(events.map(e => e.content), Array.from({ length: 2500 }, (_, i) => `line ${i}`))
  const agent = (await app.inject({ method: 'GET', url: '/agents' })).json().agents[0]
  t.match(agent, { agent_id: 'agent-1', connected: false, last_seq: 2500 })
})

test('a peer that never answers the close handshake does not hold up the shutdown', async (t) => {
  const databasePath = tempDatabasePath(t)
  const app = await build(t, { databasePath })
  const url = await listen(app)
  const agent = await connect(t, `${url}/ws/agent-1`)
  const inbox = collect(agent)
  agent.send(burst(0, 20))
  await sync(app, agent, inbox)
  // a raw socket that upgrades, is refused (4003), and then never says anything again
  const port = Number(new URL(url).port)
  const mute = tcpConnect(port, '127.0.0.1')
  t.teardown(() => mute.destroy())
  const refused = new Promise<void>((resolve) => {
    let seen = Buffer.alloc(0)
    mute.on('data', (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk])
      // the close frame (0x88) after the 101 response
      if (seen.includes('101 Switching Protocols') && seen.includes(0x88)) resolve()
    })
  })
  mute.write('GET /ws/-bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await refused
  agent.send(burst(20, 20))
  const started = Date.now()
  await app.close()
  const took = Date.now() - started
  t.ok(took < 8000, `closed in ${took} ms, within close-with-grace's 10 s`)
  const again = await build(t, { databasePath })
  t.equal((await walk(again, 'agent-1')).length, 40)
})
