// DEDUPE_WINDOW_LINES: how many of an agent's recent line uuids drop re-sent lines; rebuilt from the log's tail on load.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, collect, sync, line, walk, tempDatabasePath, assistantText, type TestContext } from './helper.js'

/** Numbered lines with fixed uuids, so they can be re-sent as the CLI does. */
const LINES = Array.from({ length: 30 }, (_, i) => assistantText(`line ${i}`))

async function open (app: FastifyInstance, t: TestContext, reconnect: boolean): Promise<{ ws: WebSocket, inbox: ReturnType<typeof collect> }> {
  const ws = await app.injectWS('/ws/agent-1', reconnect ? { headers: { 'x-last-request-id': 'r' } } : {})
  t.teardown(() => ws.terminate())
  return { ws, inbox: collect(ws) }
}

/** Sends the lines (by index) in one frame and waits until they are committed; returns the log's contents. */
async function send (app: FastifyInstance, conn: { ws: WebSocket, inbox: ReturnType<typeof collect> }, indexes: number[]): Promise<string[]> {
  conn.ws.send(indexes.map(i => line(LINES[i])).join(''))
  await sync(app, conn.ws, conn.inbox)
  return (await walk(app, 'agent-1')).map(e => e.content as string)
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)
const texts = (indexes: number[]): string[] => indexes.map(i => `line ${i}`)

test('DEDUPE_WINDOW_LINES=10: re-sends of the last 10 lines are dropped, older ones stored again, also after a restart', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { DEDUPE_WINDOW_LINES: '10' }
  let app = await build(t, { databasePath, env })
  let conn = await open(app, t, false)
  t.same(await send(app, conn, range(0, 30)), texts(range(0, 30)))

  t.same(await send(app, conn, range(20, 30)), texts(range(0, 30)), 'the last 10 lines re-sent: nothing stored')
  // the default window (5000) would drop this one too
  t.same(await send(app, conn, [19]), texts([...range(0, 30), 19]), 'the 11th newest line is outside the window: stored again')

  // a restart: the window is rebuilt from the log's last 10 line uuids (lines 21..29 and the second 19)
  conn.ws.terminate()
  await app.close()
  app = await build(t, { databasePath, env })
  conn = await open(app, t, true)
  t.same(await send(app, conn, [...range(21, 30), 19]), texts([...range(0, 30), 19]), 'after the restart the last 10 re-sent: nothing stored')
  t.same(await send(app, conn, [20]), texts([...range(0, 30), 19, 20]), 'line 20, now 11th newest, is stored again')
  const events = await walk(app, 'agent-1')
  t.same(events.map(e => e.seq), events.map((_, i) => i + 1), 'seq without gaps')
})

test('DEDUPE_WINDOW_LINES=0: no window; a line re-sent after it was committed is stored again, also after a restart', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { DEDUPE_WINDOW_LINES: '0' }
  let app = await build(t, { databasePath, env })
  let conn = await open(app, t, false)
  t.same(await send(app, conn, [0, 1]), texts([0, 1]))
  t.same(await send(app, conn, [1]), texts([0, 1, 1]), 'the newest line re-sent at once: stored again (the default drops it)')
  conn.ws.terminate()
  await app.close()
  app = await build(t, { databasePath, env })
  conn = await open(app, t, true)
  t.same(await send(app, conn, [0, 1]), texts([0, 1, 1, 0, 1]), 'after a restart too')
})

test('the default window drops a replay of 5000 lines after a restart', async (t) => {
  const databasePath = tempDatabasePath(t)
  const many = Array.from({ length: 5000 }, (_, i) => assistantText(`bulk ${i}`))
  let app = await build(t, { databasePath })
  t.equal(app.config.dedupeWindowLines, 5000, 'the default')
  let ws = await app.injectWS('/ws/agent-1')
  let inbox = collect(ws)
  for (let i = 0; i < many.length; i += 500) ws.send(many.slice(i, i + 500).map(line).join(''))
  await sync(app, ws, inbox)
  ws.terminate()
  await app.close()

  app = await build(t, { databasePath })
  ws = await app.injectWS('/ws/agent-1', { headers: { 'x-last-request-id': 'r' } })
  t.teardown(() => ws.terminate())
  inbox = collect(ws)
  // the whole window re-sent, then one new line
  for (let i = 0; i < many.length; i += 500) ws.send(many.slice(i, i + 500).map(line).join(''))
  ws.send(line(assistantText('new')))
  await sync(app, ws, inbox)
  const events = await walk(app, 'agent-1')
  t.equal(events.length, 5001, '5000 lines once and the new one')
  t.equal(events[5000].content, 'new')
  t.equal(app.events.stats.duplicateLines, 5000, 'every re-sent line counted as a duplicate')
})
