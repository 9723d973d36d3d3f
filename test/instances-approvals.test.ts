// Approvals with several real instances on one PostgreSQL: listed and decided on any instance, remembered rules
// and waiting requests following the agent to its next owner, and a request whose owner died.
import tap, { test } from 'tap'
import { postgresUrl } from './helper.js'
import { askBash, closeOf, received, startInstances, within } from './support/instances.js'
import { agentSocket, allEvents, getJson, openAgent, opened, sendFrame, seqProblem, waitFor } from './support/server-process.js'

const skip = postgresUrl === '' ? 'DATABASE_URL is not set' : false
// each test starts two or three servers: over a minute apiece on a loaded 2-core machine
tap.setTimeout(8 * 60 * 1000)

test('approvals across instances: listed everywhere, decided anywhere, remembered rules and waiting requests go with the agent to its next owner', { skip }, async (t) => {
  const { servers } = await startInstances(t, 2, { TOOL_POLICY: 'ask:Bash' })
  const [a, b] = servers
  const post = (url: string, body: unknown) => getJson(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const answer = (inbox: any[], requestId: string) => waitFor(`the answer to ${requestId}`, () => inbox.find(m => m.type === 'control_response' && m.response?.request_id === requestId))
  const listed = async (url: string) => (await getJson(`${url}/approvals`)).body.approvals.map((x: any) => x.request_id)
  const wsA = agentSocket(a.wsUrl, 'asker')
  t.teardown(() => wsA.terminate())
  const inboxA = received(wsA)
  await opened(wsA)
  const closedA = closeOf(wsA)

  // a request waiting on a is listed by b (from the database) and decided through b, remembered for the agent
  await sendFrame(wsA, askBash('ask-1', 'ls'))
  const seen = await waitFor('b to list ask-1', async () => (await getJson(`${b.url}/approvals`)).body.approvals.find((x: any) => x.request_id === 'ask-1' && x.seq !== null))
  t.equal(seen.agent_id, 'asker')
  t.same(seen.input, { command: 'ls' })
  const one = await post(`${b.url}/agents/asker/approvals/ask-1`, { behavior: 'allow', remember: 'agent' })
  t.equal(one.status, 200)
  t.equal((await answer(inboxA, 'ask-1')).response.response.behavior, 'allow', 'the agent on a got b\'s decision')
  // and one remembered for the session, decided on a
  await sendFrame(wsA, askBash('ask-2', 'git status'))
  await waitFor('a to list ask-2', async () => (await listed(a.url)).includes('ask-2') ? true : undefined)
  t.equal((await post(`${a.url}/agents/asker/approvals/ask-2`, { behavior: 'allow', remember: 'session' })).status, 200)
  await answer(inboxA, 'ask-2')
  const rulesOnB = (await getJson(`${b.url}/agents/asker/rules`)).body.rules
  t.same(rulesOnB.map((r: any) => [r.scope, r.input, r.decision]).sort(), [['agent', 'ls', 'allow'], ['session', 'git status', 'allow']],
    'b lists the rules a remembered')
  // one more left waiting on a
  await sendFrame(wsA, askBash('ask-3', 'rm -r build'))
  await waitFor('b to list ask-3', async () => (await listed(b.url)).includes('ask-3') ? true : undefined)

  // the agent moves to b
  const wsB = agentSocket(b.wsUrl, 'asker', 'req-1')
  t.teardown(() => wsB.terminate())
  const inboxB = received(wsB)
  await opened(wsB)
  t.equal(await within('a to close the first socket', closedA), 4001)
  // b applies the rules remembered on a: the same calls are answered at once, by the rules
  await sendFrame(wsB, askBash('ask-4', 'ls'))
  await sendFrame(wsB, askBash('ask-5', 'git status'))
  t.equal((await answer(inboxB, 'ask-4')).response.response.behavior, 'allow', 'the agent rule, on the next owner')
  t.equal((await answer(inboxB, 'ask-5')).response.response.behavior, 'allow', 'the session rule, on the next owner')
  const byRule = await waitFor('the rules\' decisions in the log', async () => {
    const evs = (await allEvents(b.url, 'asker')).filter(e => e.event_type === 'permission_decided' && ['ask-4', 'ask-5'].includes(e.metadata.request_id))
    return evs.length === 2 ? evs : undefined
  })
  t.ok(byRule.every(e => /^rule r-/.test(e.metadata.decided_by)), 'decided by the remembered rules')

  // the request left waiting is b's now: listed once on each instance, decided through a, answered on b's socket
  t.same((await listed(a.url)).filter((id: string) => id === 'ask-3'), ['ask-3'], 'a lists ask-3 once (from the database)')
  t.same(await listed(b.url), ['ask-3'], 'b lists ask-3 (its own now)')
  const three = await post(`${a.url}/agents/asker/approvals/ask-3`, { behavior: 'deny', message: 'not today' })
  t.equal(three.status, 200)
  t.equal(three.body.delivered, true, 'the owner had the agent\'s socket')
  const denied = await answer(inboxB, 'ask-3')
  t.same(denied.response.response, { behavior: 'deny', message: 'not today' })
  t.notOk(inboxA.some(m => m.response?.request_id === 'ask-3'), 'nothing went to the old socket')
  t.same(await listed(a.url), [])

  // a rule forgotten through a is forgotten by its owner b: the call is asked about again
  const agentRule = rulesOnB.find((r: any) => r.scope === 'agent')
  const forgot = await getJson(`${a.url}/agents/asker/rules/${agentRule.id}`, { method: 'DELETE' })
  t.equal(forgot.status, 200)
  t.equal(forgot.body.id, agentRule.id)
  t.same((await getJson(`${a.url}/agents/asker/rules`)).body.rules.map((r: any) => r.scope), ['session'])
  t.equal((await getJson(`${a.url}/agents/asker/rules/${agentRule.id}`, { method: 'DELETE' })).status, 404)
  await sendFrame(wsB, askBash('ask-6', 'ls'))
  await waitFor('a to list ask-6 waiting on b', async () => (await listed(a.url)).includes('ask-6') ? true : undefined)
  t.notOk(inboxB.some(m => m.response?.request_id === 'ask-6'), 'ask-6 waits for a person')
  t.equal(seqProblem(await allEvents(a.url, 'asker')), null)
})

test('a request left waiting by an owner that died is decided on a survivor, which takes the agent; the agent gets the answer when it reconnects', { skip }, async (t) => {
  const { servers } = await startInstances(t, 2, { TOOL_POLICY: 'ask:Bash' })
  const [a, b] = servers
  const wsA = await openAgent(a.wsUrl, 'orphan')
  t.teardown(() => wsA.terminate())
  await sendFrame(wsA, askBash('ask-1', 'make deploy'))
  await waitFor('b to list ask-1', async () => (await getJson(`${b.url}/approvals`)).body.approvals.find((x: any) => x.request_id === 'ask-1' && x.seq !== null))
  await a.kill()
  wsA.terminate()
  t.same((await getJson(`${b.url}/approvals`)).body.approvals.map((x: any) => x.request_id), ['ask-1'], 'still listed with its owner dead')
  const decided = await within('the decision on b', getJson(`${b.url}/agents/orphan/approvals/ask-1`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ behavior: 'allow' })
  }))
  t.equal(decided.status, 200)
  t.equal(decided.body.delivered, false, 'the agent is not connected anywhere')
  t.same((await getJson(`${b.url}/approvals`)).body.approvals, [])
  // the decision is sent as the connection is accepted: the inbox listens from before the handshake
  const wsB = agentSocket(b.wsUrl, 'orphan', 'req-1')
  t.teardown(() => wsB.terminate())
  const inbox = received(wsB)
  await opened(wsB)
  const got = await waitFor('the answer on reconnect', () => inbox.find(m => m.type === 'control_response' && m.response?.request_id === 'ask-1'))
  t.equal(got.response.response.behavior, 'allow')
  const events = await allEvents(b.url, 'orphan')
  t.equal(seqProblem(events), null)
  t.same(events.map(e => e.event_type), ['permission_requested', 'permission_decided'], 'one request, one decision, written by b')
})
