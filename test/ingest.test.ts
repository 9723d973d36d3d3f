// The agent socket: how real stream-json lines become events, permission answers, bad lines and bad agents.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, collect, sync, line, history, fixtureMessages, closed, assistantText, listen, connect, walk } from './helper.js'
import { agentRestartedLine } from '../src/protocol/relay.js'

const REC = 'claude-code-2.1.112'
const messages = fixtureMessages(REC)

function pick (pred: (m: any) => boolean, what: string): any {
  const found = messages.find(pred)
  if (found === undefined) throw new Error(`no ${what} line in ${REC}`)
  return found
}

const init = pick(m => m.type === 'system' && m.subtype === 'init', 'init')
const hello = pick(m => m.type === 'assistant' && m.message.content[0]?.text?.startsWith('Hello!'), 'hello')
const helloResult = pick(m => m.type === 'result' && m.result?.startsWith('Hello!'), 'hello result')
const thinking = pick(m => m.type === 'assistant' && m.message.content[0]?.type === 'thinking', 'thinking')
const toolUse = pick(m => m.type === 'assistant' && m.message.content[0]?.name === 'Bash', 'Bash tool_use')
const toolResult = pick(m => m.type === 'user' && m.message.content[0]?.tool_use_id === toolUse.message.content[0].id, 'Bash tool_result')
const denied = pick(m => m.type === 'user' && m.message.content[0]?.is_error === true, 'denied tool_result')
const multiline = pick(m => m.type === 'assistant' && m.message.content[0]?.text?.startsWith('Line one'), 'multiline')
const apiErrorResult = pick(m => m.type === 'result' && m.is_error === true, 'api error result')
const canUseRead = pick(m => m.type === 'control_request' && m.request.tool_name === 'Read', 'can_use_tool Read')
const canUseWrite = pick(m => m.type === 'control_request' && m.request.tool_name === 'Write', 'can_use_tool Write')
const taskStarted = pick(m => m.type === 'system' && m.subtype === 'task_started', 'task_started')

async function agent (app: FastifyInstance, id = 'agent-1') {
  const ws = await app.injectWS(`/ws/${id}`)
  const inbox = collect(ws)
  return { ws, inbox }
}

test('real assistant, user, result and init lines map to events', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  ws.send(line(init))
  ws.send(line(hello))
  ws.send(line(helloResult))
  ws.send(line(thinking) + line(toolUse) + line(toolResult) + line(denied) + line(multiline) + line(apiErrorResult))
  await sync(app, ws, inbox)

  const { events } = await history(app, 'agent-1')
  t.same(events.map((e: any) => e.event_type), [
    'output', 'result', 'activity_changed', 'thinking', 'tool_use', 'tool_result', 'tool_result', 'output', 'result', 'activity_changed'
  ])
  t.same(events.map((e: any) => e.seq), events.map((_: any, i: number) => i + 1), 'seq from 1, gapless')
  for (const e of events) {
    t.same(Object.keys(e).sort(), ['agent_id', 'content', 'created_at', 'event_type', 'id', 'metadata', 'seq', 'session_number'])
    t.equal(e.session_number, 0)
    t.match(e.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  }
  const [output, result, idle, think, use, res, deny, multi, errResult] = events

  t.equal(output.content, hello.message.content[0].text)
  t.match(output.metadata, { message_id: 'msg_mock_1', uuid: hello.uuid, parent_tool_use_id: null })

  t.equal(result.content, helloResult.result)
  t.match(result.metadata, {
    subtype: 'success',
    is_error: false,
    duration_ms: helloResult.duration_ms,
    duration_api_ms: helloResult.duration_api_ms,
    num_turns: 1,
    total_cost_usd: helloResult.total_cost_usd,
    cost_usd: helloResult.total_cost_usd
  })
  t.same(result.metadata.usage, helloResult.usage, 'usage as sent')
  t.same(idle.metadata, { state: 'idle' })
  t.equal(idle.content, null)

  t.equal(think.content, 'Let me think about this step by step.')
  t.match(think.metadata, { message_id: thinking.message.id, uuid: thinking.uuid })

  const block = toolUse.message.content[0]
  t.equal(use.content, 'Bash')
  t.match(use.metadata, { id: block.id, name: 'Bash', message_id: toolUse.message.id, uuid: toolUse.uuid, parent_tool_use_id: null })
  t.same(use.metadata.input, block.input)

  t.equal(res.content, 'hello-from-bash')
  t.match(res.metadata, { tool_use_id: block.id, is_error: false, uuid: toolResult.uuid })
  t.equal(deny.content, "Tool 'Write': denied by policy")
  t.match(deny.metadata, { tool_use_id: denied.message.content[0].tool_use_id, is_error: true })

  t.equal(multi.content, multiline.message.content[0].text, 'unicode, fences and quotes exactly as sent')

  // a failed model call says success in subtype: is_error is what counts
  t.match(errResult.metadata, { subtype: 'success', is_error: true })
  t.equal(errResult.content, 'Prompt is too long')

  const agents = (await app.inject({ method: 'GET', url: '/agents' })).json().agents
  t.equal(agents.length, 1)
  t.match(agents[0].info, {
    model: init.model,
    cwd: init.cwd,
    claude_session_id: init.session_id,
    claude_code_version: '2.1.112',
    permissionMode: 'default'
  })
  t.same(agents[0].info.tools, init.tools)
  t.match(agents[0], { agent_id: 'agent-1', connected: true, current_session: 0, last_seq: events.length, event_count: events.length })
})

test('blank text is skipped, tool results with blocks are joined, images noted', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  ws.send(line({
    type: 'assistant',
    message: { id: 'msg_b', role: 'assistant', content: [{ type: 'text', text: '   \n' }, { type: 'text', text: '' }, { type: 'text', text: '  kept as is \n' }] },
    parent_tool_use_id: 'toolu_parent',
    session_id: 's',
    uuid: 'u-blank'
  }))
  ws.send(line({
    type: 'user',
    message: {
      role: 'user',
      content: [{
        type: 'tool_result',
        tool_use_id: 'toolu_x',
        content: [{ type: 'text', text: 'first' }, { type: 'image', source: { type: 'base64', data: 'AAAA' } }, { type: 'text', text: 'second' }]
      }]
    },
    session_id: 's',
    uuid: 'u-blocks'
  }))
  // a prompt echoed back as a user line is not an event
  ws.send(line({ type: 'user', message: { role: 'user', content: 'hi' }, session_id: 's', uuid: 'u-echo' }))
  await sync(app, ws, inbox)
  const { events } = await history(app, 'agent-1')
  t.same(events.map((e: any) => [e.event_type, e.content]), [
    ['output', '  kept as is \n'],
    ['tool_result', 'first\n[image]\nsecond']
  ])
  t.equal(events[0].metadata.parent_tool_use_id, 'toolu_parent')
  t.match(events[1].metadata, { tool_use_id: 'toolu_x', is_error: false, images: 1 })
  t.notOk(JSON.stringify(events[1]).includes('AAAA'), 'image data is not stored')
})

test('content over MAX_EVENT_CONTENT_BYTES is cut on a character boundary with truncation metadata', async (t) => {
  const app = await build(t, { env: { MAX_EVENT_CONTENT_BYTES: '100' } })
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  const text = 'é'.repeat(80) // 160 bytes
  ws.send(line(assistantText(text)))
  ws.send(line({ type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'x'.repeat(150), is_error: true }] }, uuid: 'u-big' }))
  await sync(app, ws, inbox)
  const { events } = await history(app, 'agent-1')
  t.equal(events[0].content, 'é'.repeat(50))
  t.same(events[0].metadata.truncated, { original_bytes: 160 })
  t.equal(events[1].content, 'x'.repeat(100))
  t.match(events[1].metadata, { is_error: true, truncated: { original_bytes: 150 } })
})

test('unknown types and subtypes never error and store nothing', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  const reset = fixtureMessages('claude-code-2.1.331-stdio').find(m => m.type === 'conversation_reset')
  t.ok(reset, 'a real conversation_reset line')
  ws.send(line(reset))
  ws.send(line(taskStarted))
  ws.send(line({ type: 'system', subtype: 'something_new', uuid: 'u-new', session_id: 's' }))
  ws.send(line({ type: 'stream_event', event: { type: 'content_block_delta', delta: { text: 'par' } }, uuid: 'u-se' }))
  ws.send(line({ type: 'keep_alive' }))
  ws.send(line({ type: 'control_response', response: { subtype: 'success', request_id: 'x' } }))
  ws.send(line({ type: 'control_request', request_id: 'r-int', request: { subtype: 'interrupt' } }))
  ws.send(line({ type: 'brand_new_type', payload: [1, 2, 3] }))
  ws.send(line({ type: 'assistant' })) // no message at all
  ws.send(line({ type: 'result' })) // no fields at all: still a result, with nulls
  await sync(app, ws, inbox)
  const { events } = await history(app, 'agent-1')
  t.same(events.map((e: any) => e.event_type), ['result', 'activity_changed'])
  t.match(events[0].metadata, { subtype: null, is_error: false, total_cost_usd: null, cost_usd: 0 })
  t.notOk(inbox.lines.some(m => m.response?.request_id === 'r-int'), 'other control requests are not answered')
  t.equal(ws.readyState, ws.OPEN, 'the connection stays up')
})

test('malformed lines are skipped and counted without dropping their neighbours', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  const before = { ...app.agents.rejectedLines }
  ws.send(line(assistantText('good one')) + 'not json\n{"no":"type"}\n' + line(assistantText('good two')))
  ws.send('[1,2]\n{"type": 42}\n' + JSON.stringify(assistantText('good three'))) // last line without a newline
  ws.send(Buffer.from([0xff, 0x00]), { binary: true })
  await sync(app, ws, inbox)
  const { events } = await history(app, 'agent-1')
  t.same(events.map((e: any) => e.content), ['good one', 'good two', 'good three'])
  t.same(app.agents.rejectedLines, {
    ...before,
    invalid_json: before.invalid_json + 1,
    missing_type: before.missing_type + 3,
    binary: before.binary + 1
  })
  t.equal(app.agents.get('agent-1')?.malformedLines, 5)
  t.equal(ws.readyState, ws.OPEN)
})

for (const [policy, readAllowed, writeAllowed] of [
  ['allow_all', true, true],
  ['deny_all', false, false],
  ['allow:Read,Grep', true, false],
  ['deny:Write', true, false],
  ['deny:Read', false, true]
] as const) {
  test(`can_use_tool is answered under TOOL_POLICY=${policy}`, async (t) => {
    const app = await build(t, { env: { TOOL_POLICY: policy } })
    const { ws, inbox } = await agent(app)
    t.teardown(() => ws.terminate())
    for (const [req, allowed] of [[canUseRead, readAllowed], [canUseWrite, writeAllowed]] as const) {
      ws.send(line(req))
      const answer = await inbox.next(m => m.type === 'control_response' && m.response.request_id === req.request_id)
      const expected = allowed
        ? { behavior: 'allow', updatedInput: req.request.input }
        : { behavior: 'deny', message: `Tool '${req.request.tool_name as string}': denied by policy` }
      t.same(answer, { type: 'control_response', response: { subtype: 'success', request_id: req.request_id, response: expected } })
    }
    // asked again (the first answer may have been lost): answered again
    ws.send(line(canUseRead))
    const again = await inbox.next(m => m.type === 'control_response' && m.response.request_id === canUseRead.request_id)
    t.equal(again.response.response.behavior, readAllowed ? 'allow' : 'deny')
    await sync(app, ws, inbox)
    t.same((await history(app, 'agent-1')).events, [], 'permission requests are not conversation events')
  })
}

test('every answer to the agent is one line ending in a newline; a numeric request_id comes back as sent', async (t) => {
  const app = await build(t)
  const ws = await app.injectWS('/ws/agent-1')
  t.teardown(() => ws.terminate())
  const frame = new Promise<string>(resolve => ws.once('message', (data) => resolve(data.toString())))
  ws.send(line({ type: 'control_request', request_id: 7, request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'ls' } } }))
  const text = await frame
  t.ok(text.endsWith('\n'))
  t.equal(text.split('\n').length, 2)
  t.same(JSON.parse(text).response, { subtype: 'success', request_id: 7, response: { behavior: 'allow', updatedInput: { command: 'ls' } } })
})

// real TCP sockets here: a socket the server closes finishes its close handshake only over a real connection
test('a second connection replaces the first: 4001 to the old one, the new one is stored', async (t) => {
  const app = await build(t)
  const url = await listen(app)
  const first = await connect(t, `${url}/ws/agent-1`)
  const firstInbox = collect(first)
  first.send(line(assistantText('from the first')))
  await sync(app, first, firstInbox)
  const firstClosed = closed(first)

  const second = await connect(t, `${url}/ws/agent-1`, { 'x-last-request-id': 'r-1' })
  t.same(await firstClosed, { code: 4001, reason: 'replaced by a newer connection' })
  const inbox = collect(second)
  second.send(line(assistantText('from the second')))
  await sync(app, second, inbox)
  const { events } = await history(app, 'agent-1')
  t.same(events.map((e: any) => e.content), ['from the first', 'from the second'])
  const agents = (await app.inject({ method: 'GET', url: '/agents' })).json().agents
  t.equal(agents[0].connected, true, 'the replaced socket closing does not mark the agent disconnected')
  t.equal(app.agents.size, 1)

  const secondClosed = closed(second)
  await app.close()
  t.equal((await secondClosed).code, 1001, 'server shutdown: 1001, come back later')
})

test('a bad agent id on /ws is closed with 4003; bad ids on REST are 400 { error, message }', async (t) => {
  const app = await build(t)
  const url = await listen(app)
  for (const id of ['-starts-with-dash', 'has%20space', 'x'.repeat(129), 'sl%2Fash', '%C3%A9t%C3%A9']) {
    const ws = await connect(t, `${url}/ws/${id}`)
    t.same(await closed(ws), { code: 4003, reason: 'invalid agent id' }, id)
  }
  t.same((await app.inject({ method: 'GET', url: '/agents' })).json().agents, [], 'nothing was created')
  for (const [method, url] of [
    ['GET', '/agents/-bad/events'],
    ['GET', '/agents/-bad/sessions'],
    ['POST', '/agents/-bad/clear-context'],
    ['POST', `/agents/${'y'.repeat(129)}/messages`]
  ] as const) {
    const res = await app.inject({ method, url, payload: method === 'POST' ? { content: 'x' } : undefined })
    t.equal(res.statusCode, 400, url)
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message'])
    t.match(res.json().message, /agentId/)
  }
  // the longest valid id (128 characters) and a UUID work everywhere
  for (const id of ['a'.repeat(128), '0a1b2c3d-4e5f-6789-abcd-ef0123456789']) {
    const ws = await connect(t, `${url}/ws/${id}`)
    const inbox = collect(ws)
    ws.send(line(assistantText('fine')))
    await sync(app, ws, inbox)
    t.equal((await history(app, id)).events.length, 1, id)
  }
})

test('a frame over MAX_FRAME_BYTES closes the socket with 1009; what came before is kept', async (t) => {
  const app = await build(t, { env: { MAX_FRAME_BYTES: '2048' } })
  const url = await listen(app)
  const ws = await connect(t, `${url}/ws/agent-1`)
  const inbox = collect(ws)
  ws.send(line(assistantText('small')))
  await sync(app, ws, inbox)
  const bye = closed(ws)
  ws.send(line(assistantText('x'.repeat(4000))))
  t.equal((await bye).code, 1009)
  await app.events.flush()
  t.same((await history(app, 'agent-1')).events.map((e: any) => e.content), ['small'])
})

/** Records uncaught exceptions while the test runs (one would end a real server); `thrown` settles at the first. */
function watchUncaught (t: { teardown: (fn: () => void) => void }): { errors: unknown[], thrown: Promise<string> } {
  const errors: unknown[] = []
  let onError: (err: unknown) => void = () => {}
  const thrown = new Promise<string>(resolve => {
    onError = (err) => { errors.push(err); resolve(`uncaught exception: ${String(err)}`) }
  })
  process.on('uncaughtException', onError)
  t.teardown(() => { process.off('uncaughtException', onError) })
  return { errors, thrown }
}

const canUse = (requestId: string, tool: string, input: Record<string, unknown>) =>
  ({ type: 'control_request', request_id: requestId, request: { subtype: 'can_use_tool', tool_name: tool, input, tool_use_id: `toolu_${requestId}` } })

test('an agent whose state this instance dropped (handed over) while its socket was open: no line ends the process, the agent is sent away with 1001', async (t) => {
  const { errors, thrown } = watchUncaught(t)
  // Bash is asked about, and a person's remembered decision then answers it (and logs that it did)
  const app = await build(t, { env: { TOOL_POLICY: JSON.stringify({ default: 'allow', rules: [{ tool: 'Bash', decision: 'ask' }] }) } })
  const url = await listen(app)
  const first = await connect(t, `${url}/ws/moved`)
  const firstInbox = collect(first)
  first.send(line(canUse('asked', 'Bash', { command: 'npm test' })))
  await sync(app, first, firstInbox)
  const decided = await app.inject({ method: 'POST', url: '/agents/moved/approvals/asked', payload: { behavior: 'allow', remember: 'agent' } })
  t.equal(decided.statusCode, 200)
  await firstInbox.next(m => m.type === 'control_response' && m.response?.request_id === 'asked')

  const lines: Array<[string, string | Buffer]> = [
    ['assistant', line(assistantText('after the hand-over'))],
    ['user', line(toolResult)],
    ['result', line(helloResult)],
    ['system init', line(init)],
    ['can_use_tool a remembered rule answers', line(canUse('remembered', 'Bash', { command: 'npm test' }))],
    ['can_use_tool the policy answers', line(canUseRead)],
    ['control_cancel_request', line({ type: 'control_cancel_request', request_id: 'asked' })],
    ['agent_restarted (relay notice)', line(agentRestartedLine({ exit_code: 1, signal: null, resumed_session_id: 'sess-1', attempt: 1, max_restarts: 5 }))],
    ['control_response', line({ type: 'control_response', response: { subtype: 'success', request_id: 'nobody-asked', response: {} } })],
    ['keep_alive', line({ type: 'keep_alive' })],
    ['garbage JSON', '{"type":"assistant", broken\nnot json at all\n'],
    ['binary frame', Buffer.from([0x00, 0xff, 0x7b])]
  ]
  for (const [kind, frame] of lines) {
    const ws = await connect(t, `${url}/ws/moved`)
    const inbox = collect(ws)
    // what lose() in src/cluster/ownership.ts does when another instance has taken the agent, before it closes the socket
    await app.events.forget('moved')
    // a request the policy allows: this instance answered it as if nothing had happened, or sends the agent away
    const after = `after-${kind}`
    const outcome = Promise.race([
      closed(ws),
      inbox.next(m => m.type === 'control_response' && m.response?.request_id === after).then(() => `answered ${after}`),
      thrown
    ])
    ws.send(frame, { binary: Buffer.isBuffer(frame) })
    ws.send(line(canUse(after, 'Read', { file_path: '/tmp/x' })))
    t.same(await outcome, { code: 1001, reason: 'the agent is served by another instance now; reconnect' }, kind)
    if (errors.length > 0) break
  }
  t.same(errors, [], 'no uncaught exception')

  // nothing sent after the state was dropped is in the log
  await app.events.flush()
  const stored = await walk(app, 'moved')
  t.same(stored.filter(e => e.content === 'after the hand-over' || e.event_type === 'agent_restarted' || e.metadata?.request_id === 'remembered'), [])
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'the server is up')
  // the agent comes back (its state loaded again) and so does another one
  for (const id of ['moved', 'neighbour']) {
    const ws = await connect(t, `${url}/ws/${id}`)
    const inbox = collect(ws)
    ws.send(line(assistantText(`${id} carries on`)))
    await sync(app, ws, inbox)
    t.same((await walk(app, id)).filter(e => e.event_type === 'output').map(e => e.content).slice(-1), [`${id} carries on`], id)
  }
})

test('whatever else throws while a line is handled is logged and the agent told to reconnect (1011), never the end of the process', async (t) => {
  const { errors, thrown } = watchUncaught(t)
  const app = await build(t)
  const url = await listen(app)
  const ws = await connect(t, `${url}/ws/agent-1`)
  const inbox = collect(ws)
  ws.send(line(hello))
  await sync(app, ws, inbox)
  // a closed store refuses every line by throwing (it does once the server is shutting down)
  await app.events.close()
  const outcome = Promise.race([closed(ws), thrown])
  ws.send(line(assistantText('after the store closed')))
  t.same(await outcome, { code: 1011, reason: 'internal error; reconnect' })
  t.same(errors, [], 'no uncaught exception')
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'the server is up')
})
