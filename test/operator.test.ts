// Operator commands: prompts to a connected agent, and clear-context with what the agent really answers.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, collect, sync, line, history, walk, sessionsOf, fixtureLines, assistantText, disconnected } from './helper.js'

// real lines, in the order the CLI sent them
const v120 = fixtureLines('claude-code-2.1.120')
const v112 = fixtureLines('claude-code-2.1.112')
const byUuid = (lines: string[], prefix: string): string => {
  const found = lines.find(l => JSON.parse(l).uuid?.startsWith(prefix))
  if (found === undefined) throw new Error(`no line ${prefix}`)
  return found + '\n'
}
// 2.1.120: the hello turn (session 3dff1bdf), the multiline turn, and its answer to /clear (new session cf8edb48)
const helloTurn120 = ['3a3f96e2', '2c3e53bd', 'bde17976'].map(u => byUuid(v120, u))
const multilineTurn120 = ['859e5379', 'ea96088e', '30e18e70'].map(u => byUuid(v120, u))
const clearReply120 = ['a6993694', 'b14368df', '7b349832'].map(u => byUuid(v120, u))
const total = (l: string): number => JSON.parse(l).total_cost_usd
// 2.1.112: "/clear isn't available in this environment.", num_turns 27, the same session id
const clearIndex112 = v112.findIndex(l => l.includes("/clear isn't available")) - 1
const clearReply112Lines = v112.slice(clearIndex112, clearIndex112 + 3).map(l => l + '\n')

async function agent (app: FastifyInstance, id = 'agent-1'): Promise<{ ws: WebSocket, inbox: ReturnType<typeof collect> }> {
  const ws = await app.injectWS(`/ws/${id}`)
  return { ws, inbox: collect(ws) }
}

const isClear = (m: any): boolean => m.type === 'user' && m.message?.content === '/clear'

test('a prompt reaches the agent as one stream-json line and is recorded as prompt_sent + busy', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  ws.send(helloTurn120[0]) // init: the CLI's session id
  await sync(app, ws, inbox)
  const frames: string[] = []
  ws.on('message', (data) => frames.push(data.toString()))

  const res = await app.inject({ method: 'POST', url: '/agents/agent-1/messages', payload: { content: 'Say hello\nand "quote" ✓' } })
  t.equal(res.statusCode, 202)
  const body = res.json()
  t.equal(body.agent_id, 'agent-1')
  t.equal(body.session_number, 0)
  t.same(body.events.map((e: any) => [e.event_type, e.content, e.metadata, e.seq]), [
    ['prompt_sent', 'Say hello\nand "quote" ✓', null, 1],
    ['activity_changed', null, { state: 'busy' }, 2]
  ])
  const sent = await inbox.next(m => m.type === 'user')
  t.same(sent, {
    type: 'user',
    message: { role: 'user', content: 'Say hello\nand "quote" ✓' },
    parent_tool_use_id: null,
    session_id: JSON.parse(helloTurn120[0]).session_id
  })
  const frame = frames.find(f => f.includes('"type":"user"'))
  t.ok(frame?.endsWith('\n'), 'the line ends with a newline, or the CLI waits forever')
  t.equal(frame?.split('\n').length, 2, 'exactly one line')

  // the agent answers: result → result + idle, after the prompt in the log
  ws.send(helloTurn120[1] + helloTurn120[2])
  await sync(app, ws, inbox)
  const { events } = await history(app, 'agent-1')
  t.same(events.map((e: any) => e.event_type), ['prompt_sent', 'activity_changed', 'output', 'result', 'activity_changed'])
  t.same(events[4].metadata, { state: 'idle' })
  t.same(events.slice(0, 2), body.events, 'the 202 body holds the stored events')
})

test('a prompt to an agent that is not connected is 409 and stores nothing', async (t) => {
  const app = await build(t)
  const never = await app.inject({ method: 'POST', url: '/agents/nobody/messages', payload: { content: 'hi' } })
  t.equal(never.statusCode, 409)
  t.same(Object.keys(never.json()).sort(), ['code', 'error', 'message'])

  const { ws, inbox } = await agent(app)
  ws.send(line(assistantText('before')))
  await sync(app, ws, inbox)
  ws.terminate()
  await app.events.flush()
  // the hub forgets the socket when it closes
  await disconnected(app, 'agent-1')
  const gone = await app.inject({ method: 'POST', url: '/agents/agent-1/messages', payload: { content: 'hi' } })
  t.equal(gone.statusCode, 409)
  t.match(gone.json(), { error: 'Conflict', message: /not connected/ })
  await app.events.flush()
  const page = await history(app, 'agent-1')
  t.same(page.events.map((e: any) => e.event_type), ['output'], 'nothing persisted')
  t.same((await app.inject({ method: 'GET', url: '/agents' })).json().agents.map((a: any) => a.agent_id), ['agent-1'], 'no agent created')
})

test('a bad prompt body is 400 { error, message }', async (t) => {
  const app = await build(t)
  const { ws } = await agent(app)
  t.teardown(() => ws.terminate())
  for (const [payload, headers, pattern] of [
    [{ content: '' }, {}, /content/],
    [{ content: 'x'.repeat(100001) }, {}, /content/],
    [{}, {}, /content/],
    ['{"content": "unterminated', { 'content-type': 'application/json' }, /JSON/],
    ['', { 'content-type': 'application/json' }, /body/]
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/agents/agent-1/messages', payload: payload as any, headers })
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 40))
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message'])
    t.match(res.json().message, pattern)
  }
  await app.events.flush()
  t.same((await history(app, 'agent-1')).events, [])
})

test('clear-context: 404 for an unknown agent, not_connected for one that is away', async (t) => {
  const app = await build(t)
  const unknown = await app.inject({ method: 'POST', url: '/agents/ghost/clear-context' })
  t.equal(unknown.statusCode, 404)
  t.same(Object.keys(unknown.json()).sort(), ['code', 'error', 'message'])

  const { ws, inbox } = await agent(app)
  ws.send(line(assistantText('hi')))
  await sync(app, ws, inbox)
  ws.terminate()
  await disconnected(app, 'agent-1')

  for (const n of [1, 2]) {
    const res = await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { agent_id: 'agent-1', session_number: n, previous_session: n - 1, agent_context: 'not_connected' })
  }
  // curl -X POST -H 'content-type: application/json' with no body is fine too
  const curl = await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context', headers: { 'content-type': 'application/json' } })
  t.equal(curl.statusCode, 200)
  t.equal(curl.json().session_number, 3)
  const events = await walk(app, 'agent-1')
  t.same(events.map(e => [e.event_type, e.session_number, e.metadata]), [
    ['output', 0, events[0].metadata],
    ['context_cleared', 1, { previous_session: 0, session_number: 1, agent_context: 'not_connected' }],
    ['context_cleared', 2, { previous_session: 1, session_number: 2, agent_context: 'not_connected' }],
    ['context_cleared', 3, { previous_session: 2, session_number: 3, agent_context: 'not_connected' }]
  ])
  t.equal((await sessionsOf(app, 'agent-1')).current_session, 3)
})

test('clear-context with a 2.1.120-style agent: cleared, and the reply turn is not conversation', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  ws.send(helloTurn120.join(''))
  await sync(app, ws, inbox)

  const pending = app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  await inbox.next(isClear)
  t.notOk((await history(app, 'agent-1', 'type=prompt_sent')).events.length, '/clear is not recorded as a prompt')
  ws.send(clearReply120.join(''))
  const res = await pending
  t.equal(res.statusCode, 200)
  t.same(res.json(), { agent_id: 'agent-1', session_number: 1, previous_session: 0, agent_context: 'cleared' })

  await sync(app, ws, inbox)
  const events = await walk(app, 'agent-1')
  t.same(events.map(e => [e.event_type, e.session_number]), [
    ['output', 0], ['result', 0], ['activity_changed', 0],
    ['context_cleared', 1], ['context_clear_outcome', 1]
  ], 'no output "(no content)" and no result for the reply')
  t.match(events[4].metadata, { agent_context: 'cleared', session_number: 1, previous_session: 0, claude_session_id: JSON.parse(clearReply120[0]).session_id })
  const agents = (await app.inject({ method: 'GET', url: '/agents' })).json().agents
  t.equal(agents[0].info.claude_session_id, JSON.parse(clearReply120[0]).session_id, 'the new CLI session is known')

  // the next prompt goes out with the new session id
  const prompt = await app.inject({ method: 'POST', url: '/agents/agent-1/messages', payload: { content: 'after' } })
  t.equal(prompt.json().session_number, 1)
  t.equal((await inbox.next(m => m.type === 'user' && m.message.content === 'after')).session_id, JSON.parse(clearReply120[0]).session_id)
})

test('clear-context with a 2.1.112-style agent: not_supported, reply not stored', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  t.match(clearReply112Lines[1], /isn't available/)
  ws.send(v112.slice(0, 3).map(l => l + '\n').join(''))
  await sync(app, ws, inbox)

  const pending = app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  await inbox.next(isClear)
  for (const l of clearReply112Lines) ws.send(l)
  const res = await pending
  t.same(res.json(), { agent_id: 'agent-1', session_number: 1, previous_session: 0, agent_context: 'not_supported' })
  await sync(app, ws, inbox)
  const events = await walk(app, 'agent-1')
  t.same(events.map(e => e.event_type), ['output', 'result', 'activity_changed', 'context_cleared', 'context_clear_outcome'])
  t.notOk(events.some(e => (e.content ?? '').includes("isn't available")), 'the refusal is not conversation')
  t.equal(events[4].metadata.agent_context, 'not_supported')
})

test('clear-context with an agent that never answers: no_answer after CLEAR_CONTEXT_WAIT_MS, recorded', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '200' } })
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  ws.send(helloTurn120.join(''))
  await sync(app, ws, inbox)
  const started = Date.now()
  const res = await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  t.ok(Date.now() - started >= 190, 'waited for the agent')
  t.same(res.json(), { agent_id: 'agent-1', session_number: 1, previous_session: 0, agent_context: 'no_answer' })
  t.ok(inbox.lines.some(isClear), 'the agent was told')
  await app.events.flush()
  const events = await walk(app, 'agent-1', 'session=1')
  t.same(events.map(e => [e.event_type, e.metadata.agent_context]), [['context_cleared', 'pending'], ['context_clear_outcome', 'no_answer']])
})

test('clear-context on a busy agent: the running turn is stored, then the reply is recognised; its cost counts', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  ws.send(helloTurn120.join(''))
  await sync(app, ws, inbox)

  const prompt = await app.inject({ method: 'POST', url: '/agents/agent-1/messages', payload: { content: 'MULTILINE please' } })
  t.equal(prompt.statusCode, 202)
  ws.send(multilineTurn120[0]) // the turn has started
  await sync(app, ws, inbox)

  const pending = app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  await inbox.next(isClear)
  ws.send(multilineTurn120[1] + multilineTurn120[2]) // the running turn ends
  ws.send(clearReply120.join('')) // then the CLI answers /clear
  const res = await pending
  t.same(res.json(), { agent_id: 'agent-1', session_number: 1, previous_session: 0, agent_context: 'cleared' })
  await sync(app, ws, inbox)

  const events = await walk(app, 'agent-1')
  t.same(events.map(e => [e.event_type, e.session_number]), [
    ['output', 0], ['result', 0], ['activity_changed', 0],
    ['prompt_sent', 0], ['activity_changed', 0],
    ['context_cleared', 1],
    ['output', 1], ['result', 1], ['activity_changed', 1],
    ['context_clear_outcome', 1]
  ])
  t.equal(events[6].content, JSON.parse(multilineTurn120[1]).message.content[0].text)
  t.match(events[9].metadata, { agent_context: 'cleared' })

  const s = await sessionsOf(app, 'agent-1')
  const [hello, multi, clear] = [total(helloTurn120[2]), total(multilineTurn120[2]), total(clearReply120[2])]
  t.ok(clear > multi, 'the recorded /clear reply did cost something')
  t.same(s.sessions.map((x: any) => x.session_number), [0, 1])
  t.ok(Math.abs(s.sessions[0].cost_usd - hello) < 1e-9, 'session 0: the hello turn')
  t.ok(Math.abs(s.sessions[1].cost_usd - (clear - hello)) < 1e-9, 'session 1: the running turn and the /clear reply')
  t.equal(events[9].metadata.cost_usd, Math.round((clear - multi) * 1e10) / 1e10)
})

test('a clear-context while the agent streams: lines received before are in N, after in N+1', async (t) => {
  // a small batch keeps part of the burst waiting in the write queue when the barrier is set
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '0', BATCH_MAX: '10' } })
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  const before = Array.from({ length: 600 }, (_, i) => line(assistantText(`before ${i}`)))
  ws.send(before.join(''))
  // a permission round trip proves the server has received the burst (not that it is written)
  ws.send(line({ type: 'control_request', request_id: 'mark', request: { subtype: 'can_use_tool', tool_name: 'X', input: {} } }))
  await inbox.next(m => m.response?.request_id === 'mark')
  t.ok(app.events.queueDepth > 0, 'part of the burst is still queued')
  const res = await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  t.equal(res.json().session_number, 1)
  ws.send(Array.from({ length: 50 }, (_, i) => line(assistantText(`after ${i}`))).join(''))
  await sync(app, ws, inbox)
  const events = await walk(app, 'agent-1')
  const outputs = events.filter(e => e.event_type === 'output')
  t.equal(outputs.length, 650)
  t.ok(outputs.filter(e => e.content.startsWith('before')).every(e => e.session_number === 0), 'before: session 0')
  t.ok(outputs.filter(e => e.content.startsWith('after')).every(e => e.session_number === 1), 'after: session 1')
  t.equal(events[600].event_type, 'context_cleared')
  t.equal(events[600].seq, 601)
})

test('a /clear the agent never answered does not steal the answer to the next clear-context', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '300' } })
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  ws.send(helloTurn120.join(''))
  await sync(app, ws, inbox)
  // the CLI drops the first /clear (2.1.120 did so with a prompt sent while it replayed its buffer)
  t.equal((await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })).json().agent_context, 'no_answer')
  await inbox.next(isClear)

  const pending = app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })
  await inbox.next(isClear)
  ws.send(clearReply120.join(''))
  const res = await pending
  t.same(res.json(), { agent_id: 'agent-1', session_number: 2, previous_session: 1, agent_context: 'cleared' })
  await sync(app, ws, inbox)
  const events = await walk(app, 'agent-1', 'type=context_cleared,context_clear_outcome')
  t.same(events.map(e => [e.event_type, e.session_number, e.metadata.agent_context]), [
    ['context_cleared', 1, 'pending'],
    ['context_clear_outcome', 1, 'no_answer'],
    ['context_cleared', 2, 'pending'],
    ['context_clear_outcome', 2, 'cleared']
  ])
  t.same((await walk(app, 'agent-1', 'type=output,result')).map(e => e.session_number), [0, 0], 'the reply is not conversation')
})

test('a late answer to a timed-out /clear is still recognised (a busy agent finishing a long tool)', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '100' } })
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  ws.send(helloTurn120.join(''))
  await sync(app, ws, inbox)
  t.equal((await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' })).json().agent_context, 'no_answer')
  ws.send(clearReply120.join(''))
  await sync(app, ws, inbox)
  const events = await walk(app, 'agent-1', 'session=1')
  t.same(events.map(e => [e.event_type, e.metadata.agent_context]), [
    ['context_cleared', 'pending'],
    ['context_clear_outcome', 'no_answer'],
    ['context_clear_outcome', 'cleared']
  ])
})
