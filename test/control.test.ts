// Operator control commands (interrupt, permission mode, model) against a stand-in agent socket: what goes out,
// how the agent's control_response is answered, and the operator_command event each leaves in the history.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, collect, line, walk, postgresUrl, postgresSchema, boundFor } from './helper.js'

async function agent (app: FastifyInstance, id = 'agent-1'): Promise<{ ws: WebSocket, inbox: ReturnType<typeof collect> }> {
  const ws = await app.injectWS(`/ws/${id}`)
  return { ws, inbox: collect(ws) }
}

const isControl = (m: any): boolean => m.type === 'control_request'

/** The control request the agent got for a pending command; fails at once if the command answered without sending one. */
async function received (inbox: ReturnType<typeof collect>, pending: Promise<{ statusCode: number, body: string }>): Promise<any> {
  return await Promise.race([
    inbox.next(isControl),
    pending.then(res => { throw new Error(`answered ${res.statusCode} ${res.body} before the agent got a control request`) })
  ])
}

function answer (ws: WebSocket, requestId: string, response: Record<string, unknown>): void {
  ws.send(line({ type: 'control_response', response: { request_id: requestId, ...response } }))
}

for (const db of ['sqlite', 'postgres'] as const) {
  test(`${db}: each command sends its control_request and answers with the agent's control_response`, { skip: db === 'postgres' && postgresUrl === '' ? 'DATABASE_URL is not set' : false }, async (t) => {
    const app = await build(t, { env: db === 'postgres' ? await postgresSchema(t) : {} })
    const { ws, inbox } = await agent(app)
    t.teardown(() => ws.terminate())

    const cases = [
      { url: 'interrupt', payload: undefined, request: { subtype: 'interrupt' }, params: {}, response: {} },
      { url: 'permission-mode', payload: { mode: 'plan' }, request: { subtype: 'set_permission_mode', mode: 'plan' }, params: { mode: 'plan' }, response: { mode: 'plan' } },
      { url: 'model', payload: { model: 'opus' }, request: { subtype: 'set_model', model: 'opus' }, params: { model: 'opus' }, response: {} }
    ]
    for (const c of cases) {
      const pending = app.inject({ method: 'POST', url: `/agents/agent-1/${c.url}`, payload: c.payload })
      const sent = await received(inbox, pending)
      t.same(sent.request, c.request, `${c.url}: the control request`)
      t.type(sent.request_id, 'string')
      answer(ws, sent.request_id, { subtype: 'success', response: c.response })
      const res = await pending
      t.equal(res.statusCode, 200, c.url)
      t.match(res.json(), {
        agent_id: 'agent-1',
        command: c.request.subtype,
        params: c.params,
        outcome: 'success',
        response: c.response,
        event: { event_type: 'operator_command', content: c.request.subtype }
      })
      t.same(res.json().event.metadata, {
        command: c.request.subtype, params: c.params, outcome: 'success', request_id: sent.request_id, by: null, response: c.response
      })
    }
    const stored = (await walk(app, 'agent-1')).filter(e => e.event_type === 'operator_command')
    t.same(stored.map(e => [e.content, e.metadata.outcome]), [['interrupt', 'success'], ['set_permission_mode', 'success'], ['set_model', 'success']])
  })
}

test('the agent\'s refusal is a 422 with its text, and is stored as such', async (t) => {
  const app = await build(t)
  const { ws, inbox } = await agent(app)
  t.teardown(() => ws.terminate())
  const pending = app.inject({ method: 'POST', url: '/agents/agent-1/permission-mode', payload: { mode: 'bypassPermissions' } })
  const sent = await received(inbox, pending)
  const why = 'Cannot set permission mode to bypassPermissions because the session was not launched with --dangerously-skip-permissions'
  answer(ws, sent.request_id, { subtype: 'error', error: why })
  const res = await pending
  t.equal(res.statusCode, 422)
  t.same(res.json(), { error: 'Unprocessable Entity', message: `the agent refused set_permission_mode: ${why}`, code: 'agent_refused' })
  const [event] = (await walk(app, 'agent-1')).filter(e => e.event_type === 'operator_command')
  t.match(event.metadata, { command: 'set_permission_mode', params: { mode: 'bypassPermissions' }, outcome: 'error', error: why })
})

test('no answer within CONTROL_WAIT_MS is a 202 (sent, not confirmed), stored as no_answer; a late or foreign answer changes nothing', async (t) => {
  const app = await build(t, { env: { CONTROL_WAIT_MS: '300' } })
  const one = await agent(app, 'agent-1')
  const two = await agent(app, 'agent-2')
  t.teardown(() => { one.ws.terminate(); two.ws.terminate() })
  const started = Date.now()
  const pending = app.inject({ method: 'POST', url: '/agents/agent-1/interrupt' })
  const sent = await received(one.inbox, pending)
  // another agent cannot answer for this one
  answer(two.ws, sent.request_id, { subtype: 'success' })
  const res = await pending
  const took = Date.now() - started
  t.equal(res.statusCode, 202)
  t.match(res.json(), { command: 'interrupt', outcome: 'no_answer', response: null, event: { metadata: { outcome: 'no_answer' } } })
  t.ok(took >= 290 && took < boundFor(300, 10000), `waited the configured 300 ms (${took} ms), not the default 10 s`)
  answer(one.ws, sent.request_id, { subtype: 'success' })
  const ok = app.inject({ method: 'POST', url: '/agents/agent-1/model', payload: { model: 'sonnet' } })
  const next = await received(one.inbox, ok)
  answer(one.ws, next.request_id, { subtype: 'success' })
  t.equal((await ok).statusCode, 200, 'the late answer did not settle the next request')
  const stored = (await walk(app, 'agent-1')).filter(e => e.event_type === 'operator_command')
  t.same(stored.map(e => e.metadata.outcome), ['no_answer', 'success'])
  t.equal(app.agentControl.pending, 0)
})

test('409 when the agent is not connected; 400 on a bad body; nothing stored', async (t) => {
  const app = await build(t)
  for (const [url, payload] of [['interrupt', undefined], ['permission-mode', { mode: 'plan' }], ['model', { model: 'opus' }]] as const) {
    const res = await app.inject({ method: 'POST', url: `/agents/nobody/${url}`, payload })
    t.equal(res.statusCode, 409, url)
    t.equal(res.json().code, 'agent_not_connected')
  }
  const { ws } = await agent(app)
  t.teardown(() => ws.terminate())
  for (const [url, payload] of [['permission-mode', { mode: 'yolo' }], ['permission-mode', {}], ['model', { model: '' }], ['model', {}]] as const) {
    const res = await app.inject({ method: 'POST', url: `/agents/agent-1/${url}`, payload })
    t.equal(res.statusCode, 400, `${url} ${JSON.stringify(payload)}`)
    t.equal(res.json().code, 'bad_parameter')
  }
  t.equal(app.agentControl.pending, 0, 'nothing was sent')
  const list = await app.inject({ method: 'GET', url: '/agents' })
  t.notOk(list.json().agents.some((a: any) => a.agent_id === 'nobody'), 'an unknown agent is not created')
})
