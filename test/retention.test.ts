// Retention: EVENTS_MAX_PER_AGENT keeps the newest events, drops the oldest in steps, never reuses a seq.
import { test } from 'tap'
import { build, collect, sync, line, history, walk, sessionsOf, tempDatabasePath, assistantText, resultLine } from './helper.js'

const lines = (from: number, n: number): string => Array.from({ length: n }, (_, i) => line(assistantText(`e ${from + i}`))).join('')

test('EVENTS_MAX_PER_AGENT=100: after 350 events exactly the newest 100 remain, seq goes on', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { EVENTS_MAX_PER_AGENT: '100', BATCH_MAX: '40', CLEAR_CONTEXT_WAIT_MS: '0' }
  let app = await build(t, { env, databasePath })
  let ws = await app.injectWS('/ws/agent-1')
  let inbox = collect(ws)
  for (let i = 0; i < 350; i += 50) {
    ws.send(lines(i, 50))
    if (i === 150) {
      await sync(app, ws, inbox)
      await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
    }
  }
  await sync(app, ws, inbox)
  // 350 lines + context_cleared + context_clear_outcome
  const kept = await walk(app, 'agent-1', '', 33)
  t.equal(kept.length, 100)
  t.same(kept.map(e => e.seq), Array.from({ length: 100 }, (_, i) => 253 + i), 'the newest 100, gapless')
  t.equal(kept[kept.length - 1].content, 'e 349')
  const page = await history(app, 'agent-1', 'limit=1')
  t.match(page, { oldest_seq: 253, latest_seq: 352 })
  t.same((await walk(app, 'agent-1', 'order=desc', 33)).map(e => e.seq), kept.map(e => e.seq).reverse())
  const agent = (await app.inject({ method: 'GET', url: '/agents' })).json().agents[0]
  t.match(agent, { oldest_seq: 253, last_seq: 352, event_count: 100 })

  const s = await sessionsOf(app, 'agent-1')
  t.match(s.sessions, [
    { session_number: 0, first_seq: null, event_count: 0 },
    { session_number: 1, first_seq: 253, last_seq: 352, event_count: 100 }
  ], 'sessions count what is left')

  ws.terminate()
  await app.close()
  app = await build(t, { env, databasePath })
  ws = await app.injectWS('/ws/agent-1', { headers: { 'x-last-request-id': 'x' } })
  t.teardown(() => ws.terminate())
  inbox = collect(ws)
  ws.send(lines(350, 5))
  await sync(app, ws, inbox)
  const after = await walk(app, 'agent-1')
  t.equal(after.length, 100)
  t.same(after.slice(-5).map(e => e.seq), [353, 354, 355, 356, 357], 'seq numbers are never reused')
  t.equal(after[0].seq, 258)
})

test('a session\'s cost and token totals survive retention deleting all of its events', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { EVENTS_MAX_PER_AGENT: '20', BATCH_MAX: '10', CLEAR_CONTEXT_WAIT_MS: '0' }
  let app = await build(t, { databasePath, env })
  const ws = await app.injectWS('/ws/agent-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  // session 0: two turns costing 0.5 then 0.25 (the CLI's counter: 0.5, 0.75), 100 + 100 input tokens
  ws.send(line(assistantText('a')) + line(resultLine(0.5)) + line(assistantText('b')) + line(resultLine(0.75)))
  await sync(app, ws, inbox)
  await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  ws.send(lines(0, 60))
  await sync(app, ws, inbox)
  const s = await sessionsOf(app, 'agent-1')
  t.match(s.sessions[0], { session_number: 0, event_count: 0, first_seq: null, cost_usd: 0.75, input_tokens: 200, output_tokens: 40 },
    'the events are gone, the totals stay')
  t.match(s.sessions[0], { cache_read_tokens: 6, cache_creation_tokens: 8 }, 'cache tokens too')
  const listed = (await app.inject({ method: 'GET', url: '/agents' })).json().agents[0]
  t.match(listed, { cost_usd: 0.75, input_tokens: 200, event_count: 20 })

  // and after a restart, when nothing of session 0 is left in the log to rebuild them from
  ws.terminate()
  await app.close()
  app = await build(t, { databasePath, env })
  const again = await sessionsOf(app, 'agent-1')
  t.same(again.sessions[0], s.sessions[0], 'session 0 after a restart: the same totals')
  t.match((await app.inject({ method: 'GET', url: '/agents' })).json().agents[0], { cost_usd: 0.75, input_tokens: 200, output_tokens: 40 })
})

test('EVENTS_MAX_PER_AGENT=0 keeps everything', async (t) => {
  const app = await build(t, { env: { EVENTS_MAX_PER_AGENT: '0', BATCH_MAX: '40' } })
  const ws = await app.injectWS('/ws/agent-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(lines(0, 350))
  await sync(app, ws, inbox)
  const all = await walk(app, 'agent-1')
  t.equal(all.length, 350)
  t.equal(all[0].seq, 1)
  t.equal((await history(app, 'agent-1', 'limit=1')).oldest_seq, 1)
})

test('retention is per agent and catches up with a large backlog without further writes', async (t) => {
  const app = await build(t, { env: { EVENTS_MAX_PER_AGENT: '10', BATCH_MAX: '100000' } })
  const big = await app.injectWS('/ws/big')
  t.teardown(() => big.terminate())
  const small = await app.injectWS('/ws/small')
  t.teardown(() => small.terminate())
  const bigInbox = collect(big)
  const smallInbox = collect(small)
  small.send(lines(0, 5))
  await sync(app, small, smallInbox)
  // one batch more than twice the deletion step
  big.send(lines(0, 12000))
  await sync(app, big, bigInbox)
  const kept = await walk(app, 'big')
  t.same(kept.map(e => e.seq), Array.from({ length: 10 }, (_, i) => 11991 + i))
  t.equal((await walk(app, 'small')).length, 5, 'another agent under the limit keeps everything')
})
