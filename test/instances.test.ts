// Several real instances on one PostgreSQL: followers anywhere, commands reach the owner, hand-over on
// reconnect, kill -9 of the owner of a busy agent (losing PostgreSQL: instances-connection.test.ts; approvals:
// instances-approvals.test.ts).
import tap, { test } from 'tap'
import { postgresUrl } from './helper.js'
import { closeOf, followerProblem, received, startInstances, within } from './support/instances.js'
import { sse } from './support/live-client.js'
import { agentSocket, allEvents, getJson, openAgent, opened, roundTrip, sendFrame, seqProblem, textLine, waitFor } from './support/server-process.js'

const skip = postgresUrl === '' ? 'DATABASE_URL is not set' : false
// each test starts two or three servers: over a minute apiece on a loaded 2-core machine
tap.setTimeout(8 * 60 * 1000)

test('followers on every instance, GET /agents with each agent\'s instance, commands carried to the owner', { skip }, async (t) => {
  const { servers, ids } = await startInstances(t, 3, { CLEAR_CONTEXT_WAIT_MS: '300', TOOL_POLICY: 'ask:Bash' })
  const [a, b, c] = servers
  const ws = agentSocket(a.wsUrl, 'agent-x')
  t.teardown(() => ws.terminate())
  const inbox = received(ws)
  await opened(ws)
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
