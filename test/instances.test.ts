// Several real instances on one PostgreSQL: followers anywhere, commands reach the owner, hand-over on
// reconnect, kill -9 of the owner of a busy agent, and the database ending every session of the instances.
import { test } from 'tap'
import WebSocket from 'ws'
import { postgresUrl } from './helper.js'
import { pgQuery, startInstances } from './support/instances.js'
import { sse, type SseClient } from './support/live-client.js'
import { allEvents, getJson, openAgent, roundTrip, sendFrame, seqProblem, textLine, waitFor } from './support/server-process.js'

const skip = postgresUrl === '' ? 'DATABASE_URL is not set' : false

/** Lines the server sent to an agent socket (prompts, /clear), parsed. */
function received (ws: WebSocket): any[] {
  const lines: any[] = []
  ws.on('message', (data) => {
    for (const text of data.toString().split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text))
  })
  return lines
}

function closeOf (ws: WebSocket): Promise<number> {
  return new Promise(resolve => ws.once('close', (code) => resolve(code)))
}

async function within<T> (what: string, p: Promise<T>, ms = 20000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

/** The follower's events are exactly seq 1..n, each once, in order. */
function followerProblem (s: SseClient, n: number): string | null {
  const seqs = s.events().map(e => e.seq)
  if (seqs.length !== n) return `expected ${n} events, got ${seqs.length}`
  return seqProblem(seqs.map(seq => ({ seq })))
}

test('followers on every instance, GET /agents with each agent\'s instance, commands carried to the owner', { skip }, async (t) => {
  const { servers, ids } = await startInstances(t, 3, { CLEAR_CONTEXT_WAIT_MS: '300', TOOL_POLICY: 'ask:Bash' })
  const [a, b, c] = servers
  const ws = await openAgent(a.wsUrl, 'agent-x')
  t.teardown(() => ws.terminate())
  const inbox = received(ws)
  const follower = await sse(t, `${b.url}/agents/agent-x/events/stream`)
  const global = await sse(t, `${c.url}/stream`)

  const lines = Array.from({ length: 40 }, (_, i) => textLine(`line ${i}`))
  for (let i = 0; i < lines.length; i += 8) await sendFrame(ws, lines.slice(i, i + 8).map(l => l.json).join(''))
  await within('the follower on another instance to get all 40', follower.through(40))
  await within('the global follower on a third instance to get all 40', global.until(() => global.events().length >= 40))
  t.equal(followerProblem(follower, 40), null, 'follower on b: seq 1..40, no gap, no double')
  t.same(follower.events().map(e => e.content), lines.map((_, i) => `line ${i}`))
  const ids40 = global.events().map(e => e.id)
  t.same(ids40, [...ids40].sort((x, y) => x - y), 'global follower: ids in order')
  t.equal(new Set(ids40).size, 40)

  const listed = await waitFor('GET /agents on c to show agent-x connected on a', async () => {
    const { body } = await getJson(`${c.url}/agents`)
    const row = body.agents.find((r: any) => r.agent_id === 'agent-x')
    return row?.connected === true ? row : undefined
  })
  t.equal(listed.instance, ids[0])
  t.equal(listed.last_seq, 40)

  // a prompt sent to b reaches the socket on a; the answer is a's, with the committed event
  const prompt = await getJson(`${b.url}/agents/agent-x/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'hello from b' })
  })
  t.equal(prompt.status, 202)
  t.equal(prompt.body.events[0].event_type, 'prompt_sent')
  t.equal(prompt.body.events[0].seq, 41)
  await waitFor('the prompt on the agent socket', () => inbox.find(m => m.message?.content === 'hello from b'))

  // clear-context sent to c: the barrier is in a's receive order
  const clear = await getJson(`${c.url}/agents/agent-x/clear-context`, { method: 'POST' })
  t.equal(clear.status, 200)
  t.equal(clear.body.session_number, 1)
  t.equal(clear.body.agent_context, 'no_answer', 'the fake agent does not answer /clear')
  t.ok(inbox.some(m => m.message?.content === '/clear'), 'the agent got /clear')
  await sendFrame(ws, textLine('after clear').json)
  await within('the line after the clear', follower.until(() => follower.events().some(e => e.content === 'after clear')))
  t.equal(follower.events().find(e => e.content === 'after clear').session_number, 1)

  // a tool call waiting on a for a person is decided through b; the answer reaches the agent on a
  await sendFrame(ws, JSON.stringify({
    type: 'control_request', request_id: 'ask-1', request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'ls' }, tool_use_id: 'toolu_1' }
  }) + '\n')
  await waitFor('the request to wait on a', async () => (await getJson(`${a.url}/approvals`)).body.approvals.find((x: any) => x.request_id === 'ask-1' && x.seq !== null))
  const decided = await getJson(`${b.url}/agents/agent-x/approvals/ask-1`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ behavior: 'allow' })
  })
  t.equal(decided.status, 200)
  await waitFor('the decision on the agent socket', () => inbox.find(m => m.type === 'control_response' && m.response?.request_id === 'ask-1'))
  const again = await getJson(`${c.url}/agents/agent-x/approvals/ask-1`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ behavior: 'deny' })
  })
  t.equal(again.status, 409, 'already decided, as the owner says')
  t.equal(again.body.decision.behavior, 'allow')

  // errors come back as the owner gave them
  const missing = await getJson(`${b.url}/agents/nobody/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'x' })
  })
  t.equal(missing.status, 409)
  t.equal(missing.body.code, 'agent_not_connected')

  ws.close()
  await waitFor('GET /agents on b to show agent-x disconnected', async () => {
    const { body } = await getJson(`${b.url}/agents`)
    const row = body.agents.find((r: any) => r.agent_id === 'agent-x')
    return row?.connected === false && row.instance === null ? true : undefined
  })
  const all = await allEvents(c.url, 'agent-x')
  t.equal(seqProblem(all), null)
})

test('a connection on another instance replaces the first (4001) after everything the first sent is committed', { skip }, async (t) => {
  const { servers } = await startInstances(t, 2)
  const [a, b] = servers
  const first = await openAgent(a.wsUrl, 'agent-y')
  t.teardown(() => first.terminate())
  const firstClosed = closeOf(first)
  const before = Array.from({ length: 300 }, (_, i) => textLine(`before ${i}`))
  // sent without waiting: most of it is still on its way or queued when the new connection arrives
  for (let i = 0; i < before.length; i += 10) first.send(before.slice(i, i + 10).map(l => l.json).join(''))
  const started = Date.now()
  const second = await openAgent(b.wsUrl, 'agent-y', 'req-1')
  t.teardown(() => second.terminate())
  t.equal(await within('the first socket to close', firstClosed), 4001, 'the old connection is told it was replaced')
  t.ok(Date.now() - started < 10000, 'hand-over within 10 s')
  const after = Array.from({ length: 20 }, (_, i) => textLine(`after ${i}`))
  await sendFrame(second, after.map(l => l.json).join(''))
  await roundTrip(second)
  const all = await waitFor('320 events', async () => {
    const evs = await allEvents(a.url, 'agent-y')
    return evs.length >= 320 ? evs : undefined
  })
  t.equal(seqProblem(all), null, 'seq 1..320 without gap or double')
  t.same(all.map(e => e.content), [...before, ...after].map((_, i) => i < 300 ? `before ${i}` : `after ${i - 300}`),
    'everything the first connection sent, then the second')
})

test('kill -9 of the owner of a busy agent: it reconnects through the proxy, the log is an exact prefix then continues, followers see no gap', { skip }, async (t) => {
  const { servers, proxy, ids } = await startInstances(t, 3)
  const [a, b, c] = servers
  const fb = await sse(t, `${b.url}/agents/busy/events/stream`)
  // the agent is not known yet: the stream on c opens once it is
  let ws = await openAgent(proxy.wsUrl, 'busy')
  t.teardown(() => ws.terminate())
  t.equal(proxy.picks[0], 0, 'the first connection went to a')
  t.equal(fb.status, 404, 'unknown before the agent connected')
  const followB = await sse(t, `${b.url}/agents/busy/events/stream`)
  const followC = await sse(t, `${c.url}/agents/busy/events/stream`)

  const sent: string[] = []
  const uuids: string[] = []
  let n = 0
  const agentSocket = { gone: false }
  ws.on('close', () => { agentSocket.gone = true })
  // the busy agent: a frame of 5 lines every few milliseconds until the socket dies
  const pump = (async () => {
    while (!agentSocket.gone) {
      const batch = Array.from({ length: 5 }, () => textLine(`busy ${n++}`))
      for (const l of batch) { sent.push(JSON.parse(l.json).message.content[0].text); uuids.push(l.uuid) }
      try { await sendFrame(ws, batch.map(l => l.json).join('')) } catch { break }
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  })()
  await within('the follower on b to see 200 events', followB.through(200))
  const killedAt = Date.now()
  await a.kill()
  await pump
  const sentToA = sent.slice()

  // the CLI reconnects (same process: x-last-request-id) and re-sends its last lines; the proxy skips the dead one
  ws = await openAgent(proxy.wsUrl, 'busy', 'req-1')
  t.teardown(() => ws.terminate())
  t.not(proxy.picks[proxy.picks.length - 1], 0, 'reconnected to a surviving instance')
  const resend = Math.min(50, sentToA.length)
  const lines = sentToA.map((text, i) => ({ text, uuid: uuids[i] }))
  const again = lines.slice(sentToA.length - resend).map(l => textLine(l.text, l.uuid).json)
  await sendFrame(ws, again.join(''))
  const more = Array.from({ length: 100 }, (_, i) => textLine(`more ${i}`))
  await sendFrame(ws, more.map(l => l.json).join(''))
  await roundTrip(ws)
  const handover = Date.now() - killedAt

  const all = await waitFor('the last line to be committed', async () => {
    const evs = await allEvents(b.url, 'busy')
    return evs.length > 0 && evs[evs.length - 1].content === 'more 99' ? evs : undefined
  })
  t.equal(seqProblem(all), null, 'seq continues: 1..n without gap or double')
  const texts = all.map(e => e.content as string)
  t.equal(new Set(texts).size, texts.length, 'nothing doubled')
  // what a committed before it died is an exact prefix of what it was sent; the re-sent lines fill in after it
  const firstResent = sentToA.length - resend
  const moreTexts = more.map((_, i) => `more ${i}`)
  const k = texts.length - more.length === sentToA.length ? sentToA.length : texts.length - more.length - resend
  t.ok(k >= 200, `a had committed at least the 200 lines b saw (${k})`)
  t.same(texts, [...sentToA.slice(0, k), ...sentToA.slice(Math.max(k, firstResent)), ...moreTexts],
    'an exact prefix of what the agent sent, then the re-sent lines not committed yet, then the new ones')
  await within('follower on b to get everything', followB.through(all.length))
  await within('follower on c to get everything', followC.through(all.length))
  t.equal(followerProblem(followB, all.length), null, 'follower on b: no gap, no double')
  t.equal(followerProblem(followC, all.length), null, 'follower on c: no gap, no double')
  const { body } = await getJson(`${c.url}/agents`)
  const row = body.agents.find((r: any) => r.agent_id === 'busy')
  t.equal(row.connected, true)
  t.ok(row.instance === ids[1] || row.instance === ids[2], 'connected on a survivor')
  t.comment(`hand-over after kill -9 (kill to the re-sent lines queued on the new owner): ${handover} ms`)
})

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
