// Several real instances on one PostgreSQL losing their connections to it: the database ends them all (a restart),
// or one instance's own connection goes while its process and its agent's socket live on (the epoch fence).
import tap, { test } from 'tap'
import { postgresUrl } from './helper.js'
import { closeOf, followerProblem, pgQuery, startInstances, within } from './support/instances.js'
import { sse } from './support/live-client.js'
import { allEvents, getJson, openAgent, roundTrip, sendFrame, seqProblem, textLine, waitFor } from './support/server-process.js'

const skip = postgresUrl === '' ? 'DATABASE_URL is not set' : false
// each test starts two or three servers: over a minute apiece on a loaded 2-core machine
tap.setTimeout(8 * 60 * 1000)

test('the database ends every session of the instances: agents wait, the instances reconnect, nothing is lost', { skip }, async (t) => {
  const { servers, cutDatabase } = await startInstances(t, 2)
  const [a, b] = servers
  const ws = await openAgent(a.wsUrl, 'steady')
  t.teardown(() => ws.terminate())
  let closedCode: number | null = null
  ws.on('close', (code) => { closedCode = code })
  const follower = await sse(t, `${b.url}/agents/steady/events/stream`)
  const first = Array.from({ length: 30 }, (_, i) => textLine(`first ${i}`))
  await sendFrame(ws, first.map(l => l.json).join(''))
  await within('30 events on b', follower.through(30))

  // what a PostgreSQL restart does to the instances (only theirs: other tests share the server)
  t.ok(await cutDatabase(0) >= 1)
  t.ok(await cutDatabase(1) >= 1)
  const second = Array.from({ length: 30 }, (_, i) => textLine(`second ${i}`))
  await sendFrame(ws, second.map(l => l.json).join(''))
  await within('60 events on b after the reconnection', follower.through(60), 30000)
  const all = await allEvents(b.url, 'steady')
  t.equal(seqProblem(all), null)
  t.same(all.map(e => e.content), [...first.map((_, i) => `first ${i}`), ...second.map((_, i) => `second ${i}`)])
  t.equal(followerProblem(follower, 60), null, 'follower: no gap, no double')
  t.equal(closedCode, null, 'the agent stayed connected')
  // the owner still holds the agent: a prompt through b reaches it
  const prompt = await getJson(`${b.url}/agents/steady/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'still there?' })
  })
  t.equal(prompt.status, 202)
  t.equal(prompt.body.events[0].seq, 61)
})

test('a stale owner (its instance connection cut, its lock gone) cannot commit what it still holds: the epoch fence refuses it, the new owner numbers on', { skip }, async (t) => {
  const { servers, ids, schema, databaseProxies } = await startInstances(t, 2, {}, { databaseProxy: true })
  const [a, b] = servers
  const { default: pg } = await import('pg')
  const wsA = await openAgent(a.wsUrl, 'stale')
  t.teardown(() => wsA.terminate())
  const closedA = closeOf(wsA)
  const first = Array.from({ length: 20 }, (_, i) => textLine(`first ${i}`))
  await sendFrame(wsA, first.map(l => l.json).join(''))
  await roundTrip(wsA)
  await waitFor('20 committed events', async () => (await allEvents(a.url, 'stale')).length === 20 ? true : undefined)

  // every writer waits at the commit-order lock while the test holds it: a's next batch is in flight, unfinished
  const holder = new pg.Client({ connectionString: postgresUrl })
  await holder.connect()
  t.teardown(async () => { await holder.end().catch(() => {}) })
  await holder.query('begin')
  await holder.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`${schema}/commit-order`])
  const held = Array.from({ length: 10 }, (_, i) => textLine(`held ${i}`))
  await sendFrame(wsA, held.map(l => l.json).join(''))
  await waitFor('a write transaction of a waiting at the commit-order lock', async () => {
    const rows = await pgQuery('select 1 from pg_stat_activity where application_name = $1 and wait_event = $2', [`agentlog-pool ${ids[0]}`, 'advisory'])
    return rows.length > 0 ? true : undefined
  })

  // a's instance connection goes (its agent lock with it) and cannot come back; its pool, its process and the
  // agent's socket on it live on
  databaseProxies[0].refuseNew(true)
  const cutAt = Date.now()
  const cut = await pgQuery<{ ok: boolean }>('select pg_terminate_backend(pid, 10000) as ok from pg_stat_activity where application_name = $1', [`agentlog ${ids[0]}`])
  t.same(cut.map(r => r.ok), [true], 'a\'s instance connection ended')

  // the agent reaches b, which takes the lock and bumps the epoch without a word from a
  const wsB = await openAgent(b.wsUrl, 'stale', 'req-1')
  t.teardown(() => wsB.terminate())
  const tookOverMs = Date.now() - cutAt
  const owner = await pgQuery<{ owner_instance: string, owner_epoch: number }>(`select owner_instance, owner_epoch from ${schema}.agents where agent_id = 'stale'`)
  t.equal(owner[0].owner_instance, ids[1], 'b owns the agent')
  t.equal(owner[0].owner_epoch, 2, 'a new epoch: a\'s was 1')
  const fromB = Array.from({ length: 10 }, (_, i) => textLine(`from b ${i}`))
  await sendFrame(wsB, fromB.map(l => l.json).join(''))

  // let the writers go: a's transaction reads the epoch under the row lock and is refused
  await holder.query('commit')
  t.equal(await within('a to close its agent socket', closedA), 1001, 'a sends the agent away (reconnect elsewhere)')
  const refused = await waitFor('a to log the refused batch', () => a.logs.find(l => l.msg === 'event batch failed to commit; will retry' && (l.err as any)?.type === 'OwnershipLostError'))
  t.match((refused.err as any).message, /another instance now owns agent\(s\) stale/)
  t.ok(a.logs.some(l => l.msg === 'agent owned by another instance now; dropping its queued writes here'), 'a dropped what it held')

  // the CLI re-sends what it had not seen committed, on its one connection left
  await sendFrame(wsB, held.map(l => l.json).join(''))
  await roundTrip(wsB)
  const all = await waitFor('40 events', async () => {
    const evs = await allEvents(b.url, 'stale')
    return evs.length >= 40 ? evs : undefined
  })
  t.equal(seqProblem(all), null, 'seq 1..40, each once')
  t.same(all.map(e => e.content), [...first.map((_, i) => `first ${i}`), ...fromB.map((_, i) => `from b ${i}`), ...held.map((_, i) => `held ${i}`)],
    'nothing of a\'s stale batch was committed before b\'s lines')

  // a comes back to PostgreSQL and does not take the agent back
  databaseProxies[0].refuseNew(false)
  await waitFor('a\'s instance connection again', async () => {
    const rows = await pgQuery('select 1 from pg_stat_activity where application_name = $1', [`agentlog ${ids[0]}`])
    return rows.length > 0 ? true : undefined
  })
  const prompt = await getJson(`${a.url}/agents/stale/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'through a' })
  })
  t.equal(prompt.status, 202, 'a forwards to the owner')
  t.equal(prompt.body.events[0].seq, 41)
  t.comment(`lock cut to new owner: ${tookOverMs} ms`)
})
