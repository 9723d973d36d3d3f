// Human approval of tool use through the real app: a tool call the policy asks about waits, is listed and
// stored, and is answered by a person's decision, a cancellation or the timeout — across reconnects and restarts.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, collect, disconnected, line, sync, tempDatabasePath, walk } from './helper.js'
import { waitFor } from './support/server-process.js'

type Inbox = ReturnType<typeof collect>

async function agent (app: FastifyInstance, id = 'agent-1', headers: Record<string, string> = {}): Promise<{ ws: WebSocket, inbox: Inbox }> {
  let inbox: Inbox | undefined
  // listening from the start: what the server sends as the agent connects must not be missed
  const ws = await app.injectWS(`/ws/${id}`, { headers }, { onInit: (socket: WebSocket) => { inbox = collect(socket) } })
  return { ws, inbox: inbox as Inbox }
}

let toolCounter = 0
/** The assistant line with a tool_use, then the CLI's can_use_tool for it. */
function toolCall (command: string, requestId = `req-${++toolCounter}`, tool = 'Bash'): { use: Record<string, unknown>, ask: Record<string, any> } {
  const toolUseId = `toolu_${requestId}`
  const input = tool === 'Bash' ? { command, description: 'run it' } : { file_path: command, content: 'x' }
  return {
    use: {
      type: 'assistant',
      message: { id: `msg_${requestId}`, role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'tool_use', id: toolUseId, name: tool, input }] },
      parent_tool_use_id: null,
      session_id: 'sess-1',
      uuid: `uuid-${requestId}`
    },
    ask: { type: 'control_request', request_id: requestId, request: { subtype: 'can_use_tool', tool_name: tool, input, tool_use_id: toolUseId } }
  }
}

async function pending (app: FastifyInstance, query = ''): Promise<any[]> {
  const res = await app.inject({ method: 'GET', url: `/approvals${query}` })
  if (res.statusCode !== 200) throw new Error(`GET /approvals ${res.statusCode}: ${res.body}`)
  return res.json().approvals
}

async function untilPending (app: FastifyInstance, requestId: string): Promise<any> {
  return await waitFor(`request ${requestId} to be listed`, async () => {
    return (await pending(app)).find(a => a.request_id === requestId && a.seq !== null)
  })
}

function decide (app: FastifyInstance, agentId: string, requestId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: `/agents/${agentId}/approvals/${requestId}`, payload: body, headers })
}

const answerTo = (requestId: string) => (m: any): boolean => m.type === 'control_response' && m.response?.request_id === requestId

async function eventsOf (app: FastifyInstance, agentId: string, type: string): Promise<any[]> {
  await app.events.flush()
  return (await walk(app, agentId)).filter(e => e.event_type === type)
}

test('an asked tool call waits, is listed and stored; approving it answers the agent and is recorded', async (t) => {
  const app = await build(t, { env: { TOOL_POLICY: JSON.stringify([{ tool: 'Bash', input: 'git push', decision: 'ask' }]) } })
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  // a live follower of the agent's log sees the request and its outcome as ordinary events
  const live: any[] = []
  const follower = await app.injectWS('/agents/agent-1/events/ws', {}, { onInit: (s: WebSocket) => { s.on('message', (d) => live.push(JSON.parse(d.toString()))) } })
  t.teardown(() => follower.terminate())
  const call = toolCall('git push origin main')
  ws.send(line(call.use))
  ws.send(line(call.ask))
  const listed = await untilPending(app, call.ask.request_id)
  t.same(listed, {
    agent_id: 'agent-1',
    request_id: call.ask.request_id,
    tool_name: 'Bash',
    input: call.ask.request.input,
    tool_use_id: call.ask.request.tool_use_id,
    rule: { id: 'TOOL_POLICY rule 1', tool: 'Bash', input: 'git push', agent: null, decision: 'ask' },
    session_number: 0,
    seq: 2,
    requested_at: listed.requested_at
  })
  // a command the rule does not cover is allowed at once, in order, while the other one waits
  await sync(app, ws, inbox)
  t.notOk(inbox.lines.some(answerTo(call.ask.request_id)), 'no answer while a person has not decided')

  // asked again (the relay re-sends open requests after a reconnect): the same request, not a second one
  ws.send(line(call.ask))
  await sync(app, ws, inbox)
  t.equal((await pending(app)).length, 1)
  const requested = await eventsOf(app, 'agent-1', 'permission_requested')
  t.equal(requested.length, 1)
  t.match(requested[0], {
    seq: 2,
    content: 'Bash',
    metadata: { request_id: call.ask.request_id, tool_use_id: call.ask.request.tool_use_id, tool_name: 'Bash', input: call.ask.request.input, rule: { id: 'TOOL_POLICY rule 1' } }
  })

  const res = await decide(app, 'agent-1', call.ask.request_id, { behavior: 'allow' })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(body, { agent_id: 'agent-1', request_id: call.ask.request_id, behavior: 'allow', decided_by: 'anonymous', waited_ms: body.waited_ms, delivered: true })
  t.ok(body.waited_ms >= 0)
  const answer = await inbox.next(answerTo(call.ask.request_id))
  t.same(answer, { type: 'control_response', response: { subtype: 'success', request_id: call.ask.request_id, response: { behavior: 'allow', updatedInput: call.ask.request.input } } })
  t.same(await pending(app), [], 'no longer listed')
  const decided = await eventsOf(app, 'agent-1', 'permission_decided')
  t.equal(decided.length, 1)
  t.match(decided[0], {
    content: 'allow',
    metadata: { request_id: call.ask.request_id, decision: 'allow', decided_by: 'anonymous', waited_ms: body.waited_ms, requested_seq: 2, delivered: true }
  })

  await waitFor('the live follower to see both', () => live.some(e => e.event_type === 'permission_decided') ? true : undefined)
  t.same(live.filter(e => e.seq !== undefined).map(e => e.event_type), ['tool_use', 'permission_requested', 'permission_decided'])

  const again = await decide(app, 'agent-1', call.ask.request_id, { behavior: 'deny' })
  t.equal(again.statusCode, 409)
  t.match(again.json(), { code: 'already_decided', decision: { status: 'decided', behavior: 'allow', decided_by: 'anonymous', waited_ms: body.waited_ms } })
  const unknown = await decide(app, 'agent-1', 'no-such-request', { behavior: 'allow' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'approval_not_found')
  const bad = await decide(app, 'agent-1', call.ask.request_id, { behavior: 'maybe' })
  t.equal(bad.statusCode, 400)
})

test('deny with a message, allow with a changed input; filtered listing', async (t) => {
  const app = await build(t, { env: { TOOL_POLICY: 'ask:Bash' } })
  const one = await agent(app, 'agent-1')
  const two = await agent(app, 'agent-2')
  t.teardown(() => { one.ws.terminate(); two.ws.terminate() })
  const a = toolCall('rm -rf build')
  const b = toolCall('npm publish')
  one.ws.send(line(a.use) + line(a.ask))
  two.ws.send(line(b.use) + line(b.ask))
  await untilPending(app, a.ask.request_id)
  await untilPending(app, b.ask.request_id)
  t.same((await pending(app, '?agent=agent-2')).map(x => x.request_id), [b.ask.request_id])

  const denied = await decide(app, 'agent-1', a.ask.request_id, { behavior: 'deny', message: 'Not on the build machine; use make clean.' })
  t.equal(denied.json().behavior, 'deny')
  t.same((await one.inbox.next(answerTo(a.ask.request_id))).response.response, { behavior: 'deny', message: 'Not on the build machine; use make clean.' })
  t.match((await eventsOf(app, 'agent-1', 'permission_decided'))[0].metadata, { decision: 'deny', message: 'Not on the build machine; use make clean.' })

  const changed = { command: 'npm publish --dry-run', description: 'run it' }
  await decide(app, 'agent-2', b.ask.request_id, { behavior: 'allow', updated_input: changed })
  t.same((await two.inbox.next(answerTo(b.ask.request_id))).response.response, { behavior: 'allow', updatedInput: changed })
  t.match((await eventsOf(app, 'agent-2', 'permission_decided'))[0].metadata, { decision: 'allow', updated_input: changed })
})

test('a decision made while the agent is away reaches it when it reconnects; waiting requests survive a restart', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { TOOL_POLICY: 'ask:Bash' }
  let app = await build(t, { env, databasePath })
  let conn = await agent(app)
  const away = toolCall('make deploy')
  conn.ws.send(line(away.use) + line(away.ask))
  await untilPending(app, away.ask.request_id)
  const gone = disconnected(app, 'agent-1')
  conn.ws.terminate()
  await gone
  const res = await decide(app, 'agent-1', away.ask.request_id, { behavior: 'allow' })
  t.match(res.json(), { behavior: 'allow', delivered: false }, 'decided, not delivered yet')
  conn = await agent(app)
  t.same((await conn.inbox.next(answerTo(away.ask.request_id))).response.response, { behavior: 'allow', updatedInput: away.ask.request.input })

  // the server goes down while a request waits: after the restart it is still listed, and the agent's
  // re-asked request (as the relay re-sends it) is the same one
  const waiting = toolCall('make release')
  conn.ws.send(line(waiting.use) + line(waiting.ask))
  const before = await untilPending(app, waiting.ask.request_id)
  conn.ws.terminate()
  await app.close()
  app = await build(t, { env, databasePath })
  t.same(await pending(app), [before], 'listed as before the restart')
  conn = await agent(app)
  t.teardown(() => conn.ws.terminate())
  conn.ws.send(line(waiting.ask))
  await sync(app, conn.ws, conn.inbox)
  t.equal((await pending(app)).length, 1)
  t.equal((await decide(app, 'agent-1', waiting.ask.request_id, { behavior: 'deny', message: 'not today' })).statusCode, 200)
  t.same((await conn.inbox.next(answerTo(waiting.ask.request_id))).response.response, { behavior: 'deny', message: 'not today' })
  const requested = await eventsOf(app, 'agent-1', 'permission_requested')
  t.same(requested.map(e => e.metadata.request_id), [away.ask.request_id, waiting.ask.request_id], 'one event per request')
  t.same((await eventsOf(app, 'agent-1', 'permission_decided')).map(e => [e.metadata.request_id, e.metadata.decision, e.metadata.delivered]),
    [[away.ask.request_id, 'allow', false], [waiting.ask.request_id, 'deny', true]])
  t.same(conn.inbox.lines.filter(answerTo(away.ask.request_id)), [], 'a delivered decision is not sent again')
})

test('a request the agent cancels, or whose turn ends, is closed as cancelled', async (t) => {
  const app = await build(t, { env: { TOOL_POLICY: 'ask:Bash' } })
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  const a = toolCall('sleep 100')
  ws.send(line(a.use) + line(a.ask))
  await untilPending(app, a.ask.request_id)
  ws.send(line({ type: 'control_cancel_request', request_id: a.ask.request_id }))
  await waitFor('the cancellation', async () => (await pending(app)).length === 0 ? true : undefined)
  const res = await decide(app, 'agent-1', a.ask.request_id, { behavior: 'allow' })
  t.equal(res.statusCode, 409)
  t.match(res.json(), { code: 'already_decided', decision: { status: 'cancelled', decided_by: 'agent' } })
  // a relay that kept the cancelled request re-sends it after a reconnect: it is told, not asked anew
  ws.send(line(a.ask))
  t.same((await inbox.next(answerTo(a.ask.request_id))).response.response, { behavior: 'deny', message: "Tool 'Bash': the request was cancelled" })
  t.same(await pending(app), [])

  // interrupted: the turn ends with a result while the request still waits
  const b = toolCall('sleep 200')
  ws.send(line(b.use) + line(b.ask))
  await untilPending(app, b.ask.request_id)
  ws.send(line({ type: 'result', subtype: 'error_during_execution', is_error: true, num_turns: 2, session_id: 'sess-1', total_cost_usd: 0.01, uuid: 'uuid-result-b' }))
  await waitFor('the turn end to cancel it', async () => (await pending(app)).length === 0 ? true : undefined)
  await sync(app, ws, inbox)
  const decided = await waitFor('both outcomes stored', async () => {
    const evs = await eventsOf(app, 'agent-1', 'permission_decided')
    return evs.length === 2 ? evs : undefined
  })
  t.same(decided.map(e => [e.content, e.metadata.decided_by, e.metadata.reason]), [
    ['cancelled', 'agent', 'cancelled by the agent'],
    ['cancelled', 'agent', 'turn ended']
  ])
  t.notOk(inbox.lines.some(m => m.type === 'control_response' && m.response.request_id === b.ask.request_id), 'nothing sent for it')
})

for (const fallback of ['deny', 'allow'] as const) {
  test(`APPROVAL_TIMEOUT_MS: no decision in time sends the fallback (${fallback})`, async (t) => {
    const timeoutMs = 400
    const app = await build(t, { env: { TOOL_POLICY: 'ask:Bash', APPROVAL_TIMEOUT_MS: String(timeoutMs), APPROVAL_FALLBACK: fallback } })
    const { ws, inbox } = await agent(app)
    t.teardown(() => ws.terminate())
    const a = toolCall('make everything')
    const started = Date.now()
    ws.send(line(a.use) + line(a.ask))
    const answer = await inbox.next(answerTo(a.ask.request_id))
    const elapsed = Date.now() - started
    t.ok(elapsed >= timeoutMs - 5, `answered after ${elapsed} ms, not before the timeout`)
    t.ok(elapsed < timeoutMs + 5000, `answered within 5 s of the timeout (${elapsed} ms)`)
    if (fallback === 'deny') {
      t.same(answer.response.response, { behavior: 'deny', message: "Tool 'Bash': no one decided within 400 ms, so it was denied" })
    } else {
      t.same(answer.response.response, { behavior: 'allow', updatedInput: a.ask.request.input })
    }
    const decided = await waitFor('the timeout recorded', async () => (await eventsOf(app, 'agent-1', 'permission_decided'))[0])
    t.match(decided.metadata, { decision: fallback, decided_by: 'timeout' })
    t.ok(decided.metadata.waited_ms >= timeoutMs - 5)
    t.equal((await decide(app, 'agent-1', a.ask.request_id, { behavior: 'allow' })).statusCode, 409)
  })
}

test('remember: the same call is decided without asking, for the session or the agent; rules are listed and removed', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { TOOL_POLICY: JSON.stringify({ default: 'allow', rules: [{ tool: 'Bash', decision: 'ask' }, { tool: 'Write', decision: 'ask' }] }) }
  let app = await build(t, { env, databasePath })
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  const first = toolCall('npm test')
  ws.send(line(first.use) + line(first.ask))
  await untilPending(app, first.ask.request_id)
  t.equal((await decide(app, 'agent-1', first.ask.request_id, { behavior: 'allow', remember: 'session' })).statusCode, 200)
  const rules = (await app.inject({ method: 'GET', url: '/agents/agent-1/rules' })).json().rules
  t.match(rules, [{ agent_id: 'agent-1', scope: 'session', session_number: 0, tool: 'Bash', input: 'npm test', decision: 'allow', created_by: 'anonymous', request_id: first.ask.request_id }])
  t.match((await eventsOf(app, 'agent-1', 'permission_decided'))[0].metadata, { remembered_rule: rules[0].id })

  const same = toolCall('npm test -- --watch=false')
  ws.send(line(same.use) + line(same.ask))
  t.equal((await inbox.next(answerTo(same.ask.request_id))).response.response.behavior, 'allow', 'answered at once by the remembered rule')
  const byRule = (await eventsOf(app, 'agent-1', 'permission_decided')).find(e => e.metadata.request_id === same.ask.request_id)
  t.match(byRule, { content: 'allow', metadata: { decision: 'allow', decided_by: `rule ${rules[0].id as string}`, waited_ms: 0 } }, 'and the log says so')
  const other = toolCall('npm publish')
  ws.send(line(other.use) + line(other.ask))
  await untilPending(app, other.ask.request_id)
  await decide(app, 'agent-1', other.ask.request_id, { behavior: 'deny', remember: 'agent' })

  // a new session: the session rule is gone, the agent rule stays
  await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  const listed = (await app.inject({ method: 'GET', url: '/agents/agent-1/rules' })).json().rules
  t.same(listed.map((r: any) => [r.scope, r.input, r.decision]), [['agent', 'npm publish', 'deny']])
  const publish = toolCall('npm publish')
  ws.send(line(publish.use) + line(publish.ask))
  t.equal((await inbox.next(answerTo(publish.ask.request_id))).response.response.behavior, 'deny')
  const test2 = toolCall('npm test')
  ws.send(line(test2.use) + line(test2.ask))
  await untilPending(app, test2.ask.request_id)

  const del = await app.inject({ method: 'DELETE', url: `/agents/agent-1/rules/${listed[0].id as string}` })
  t.equal(del.statusCode, 200)
  t.equal(del.json().id, listed[0].id)
  t.same((await app.inject({ method: 'GET', url: '/agents/agent-1/rules' })).json().rules, [])
  const publish2 = toolCall('npm publish')
  ws.send(line(publish2.use) + line(publish2.ask))
  await untilPending(app, publish2.ask.request_id)
  t.equal((await app.inject({ method: 'DELETE', url: `/agents/agent-1/rules/${listed[0].id as string}` })).json().code, 'rule_not_found')
  t.equal((await app.inject({ method: 'GET', url: '/agents/nobody/rules' })).statusCode, 404)

  // remembered rules are kept across a restart
  const agentRule = toolCall('npm publish')
  ws.send(line(agentRule.use) + line(agentRule.ask))
  await untilPending(app, agentRule.ask.request_id)
  await decide(app, 'agent-1', agentRule.ask.request_id, { behavior: 'allow', remember: 'agent' })
  ws.terminate()
  await app.close()
  app = await build(t, { env, databasePath })
  t.match((await app.inject({ method: 'GET', url: '/agents/agent-1/rules' })).json().rules, [{ scope: 'agent', input: 'npm publish', decision: 'allow' }])
  const back = await agent(app)
  t.teardown(() => back.ws.terminate())
  const after = toolCall('npm publish')
  back.ws.send(line(after.use) + line(after.ask))
  t.equal((await back.inbox.next(answerTo(after.ask.request_id))).response.response.behavior, 'allow')
})

test('with access control, the decider is the token\'s name; a reader may list but not decide', async (t) => {
  const app = await build(t, { env: { TOOL_POLICY: 'ask:Bash', AUTH_TOKENS: 'alice=operator:o-alice,operator:o-anon,reader:r-1,agent:a-1' } })
  const { ws } = await agent(app, 'agent-1', { authorization: 'Bearer a-1' })
  t.teardown(() => ws.terminate())
  const a = toolCall('git push')
  const b = toolCall('git push -f')
  ws.send(line(a.use) + line(a.ask) + line(b.use) + line(b.ask))
  await waitFor('both listed', async () => {
    const res = await app.inject({ method: 'GET', url: '/approvals', headers: { authorization: 'Bearer r-1' } })
    return res.json().approvals.filter((x: any) => x.seq !== null).length === 2 ? true : undefined
  })
  t.equal((await decide(app, 'agent-1', a.ask.request_id, { behavior: 'allow' }, { authorization: 'Bearer r-1' })).statusCode, 403)
  t.equal((await decide(app, 'agent-1', a.ask.request_id, { behavior: 'allow' })).statusCode, 401)
  t.equal((await decide(app, 'agent-1', a.ask.request_id, { behavior: 'allow' }, { authorization: 'Bearer o-alice' })).json().decided_by, 'alice')
  t.equal((await decide(app, 'agent-1', b.ask.request_id, { behavior: 'deny' }, { authorization: 'Bearer o-anon' })).json().decided_by, 'token 2', 'an unnamed token: its position')
})
