// The same core behaviour on PostgreSQL (runs when DATABASE_URL is set; .ci/run points it at the local server).
import { test } from 'tap'
import { build, collect, sync, assistantText, resultLine, line, history, postgresUrl, postgresSchema } from './helper.js'

const skip = postgresUrl === '' ? 'DATABASE_URL is not set' : false

test('postgres: ingest, history walk, sessions, dedupe and clear survive a restart', { skip }, async (t) => {
  const env = { ...await postgresSchema(t), CLEAR_CONTEXT_WAIT_MS: '50' }
  let app = await build(t, { env })
  let ws = await app.injectWS('/ws/pg-agent')
  let inbox = collect(ws)
  const first = [assistantText('one'), resultLine(0.5), assistantText('two'), resultLine(0.75)]
  ws.send(first.map(line).join(''))
  await sync(app, ws, inbox)

  const clear = await app.inject({ method: 'POST', url: '/agents/pg-agent/clear-context' })
  t.equal(clear.statusCode, 200)
  // the fake agent never answers /clear here, so only the barrier is checked
  t.equal(clear.json().session_number, 1)

  ws.send(line(assistantText('three')))
  await sync(app, ws, inbox)
  ws.terminate()
  await app.close()

  app = await build(t, { env })
  ws = await app.injectWS('/ws/pg-agent', { headers: { 'x-last-request-id': 'x' } })
  inbox = collect(ws)
  // a re-send of everything after the restart stores nothing new
  ws.send(first.map(line).join('') + line(assistantText('four')))
  await sync(app, ws, inbox)
  t.teardown(() => ws.terminate())

  const page = await history(app, 'pg-agent', 'limit=3')
  t.equal(page.has_more, true)
  const all: any[] = [...page.events]
  let cursor = page.next_cursor
  while (cursor !== null) {
    const next = await history(app, 'pg-agent', `limit=3&after=${cursor}`)
    all.push(...next.events)
    cursor = next.next_cursor
  }
  t.same(all.map(e => e.seq), all.map((_, i) => i + 1), 'gapless seq from 1')
  t.same(all.filter(e => e.event_type === 'output').map(e => [e.content, e.session_number]),
    [['one', 0], ['two', 0], ['three', 1], ['four', 1]])
  t.equal(all.find(e => e.event_type === 'context_cleared').session_number, 1)
  t.equal(typeof all[0].id, 'number')

  const sessions = (await app.inject({ method: 'GET', url: '/agents/pg-agent/sessions' })).json()
  t.equal(sessions.current_session, 1)
  t.equal(sessions.sessions[0].cost_usd, 0.75, 'cumulative counter growth, not the sum of totals')
  t.equal(sessions.sessions[0].input_tokens, 200)

  const agents = (await app.inject({ method: 'GET', url: '/agents' })).json()
  t.equal(agents.agents[0].event_count, all.length)
})
