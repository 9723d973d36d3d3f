// Idempotency-Key on the operator POSTs: a retry with the same key answers what the first request answered and does
// nothing again (after a restart, and on another instance); another request with the key is refused; a request
// that did nothing (5xx) leaves the key free. A prompt reaches the agent only once it is committed.
import { test } from 'tap'
import SQLite from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, collect, sync, line, walk, tempDatabasePath, assistantText, postgresUrl, sqlitePassOnly, type TestContext } from './helper.js'
import { decide, KEY_TTL_MS, PENDING_TTL_MS } from '../src/idempotency/decide.js'
import { startInstances } from './support/instances.js'
import { agentSocket, opened, getJson } from './support/server-process.js'

async function agent (t: TestContext, app: FastifyInstance, agentId = 'agent-1'): Promise<{ ws: WebSocket, inbox: ReturnType<typeof collect> }> {
  const ws = await app.injectWS(`/ws/${agentId}`)
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(line(assistantText('ready')))
  await sync(app, ws, inbox)
  return { ws, inbox }
}

const post = async (app: FastifyInstance, url: string, payload: unknown, key?: string) =>
  await app.inject({ method: 'POST', url, payload: payload as object, headers: key === undefined ? {} : { 'idempotency-key': key } })

const prompts = (inbox: ReturnType<typeof collect>): string[] =>
  inbox.lines.filter(m => m.type === 'user').map(m => m.message.content)

test('decide: a key is answered again for 24 hours, refused for another request, given up when its request died', async (t) => {
  const at = Date.parse('2026-01-01T00:00:00.000Z')
  const stored = (status: number | null, ageMs: number, fingerprint = 'f') => ({ fingerprint, status, createdAt: new Date(at - ageMs).toISOString() })
  t.same(decide(null, 'f', at), { then: 'proceed' })
  t.same(decide(stored(202, 1000), 'f', at), { then: 'replay' })
  t.same(decide(stored(202, KEY_TTL_MS - 1), 'f', at), { then: 'replay' }, 'up to 24 hours')
  t.same(decide(stored(202, KEY_TTL_MS), 'f', at), { then: 'proceed' }, 'then forgotten')
  t.same(decide(stored(202, 1000, 'other'), 'f', at), { then: 'mismatch' })
  t.same(decide(stored(null, 1000), 'f', at), { then: 'in_progress' })
  t.same(decide(stored(null, PENDING_TTL_MS), 'f', at), { then: 'proceed' }, 'a request that never answered is given up')
})

test('the same Idempotency-Key twice: one prompt stored and sent, the first answer repeated, also after a restart', async (t) => {
  const databasePath = tempDatabasePath(t)
  let app = await build(t, { databasePath })
  const { ws, inbox } = await agent(t, app)
  const first = await post(app, '/agents/agent-1/messages', { content: 'run the tests' }, 'key-1')
  t.equal(first.statusCode, 202)
  const second = await post(app, '/agents/agent-1/messages', { content: 'run the tests' }, 'key-1')
  t.equal(second.statusCode, 202)
  t.same(second.json(), first.json(), 'the same answer')
  t.equal(second.headers['idempotent-replayed'], 'true')
  await sync(app, ws, inbox)
  t.same(prompts(inbox), ['run the tests'], 'the agent got it once')
  t.equal((await walk(app, 'agent-1')).filter(e => e.event_type === 'prompt_sent').length, 1, 'stored once')

  const other = await post(app, '/agents/agent-1/messages', { content: 'something else' }, 'key-1')
  t.equal(other.statusCode, 422)
  t.equal(other.json().code, 'idempotency_key_reused')
  const bad = await post(app, '/agents/agent-1/messages', { content: 'x' }, 'a key with spaces')
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'bad_parameter')
  const without = await post(app, '/agents/agent-1/messages', { content: 'no key' })
  t.equal(without.statusCode, 202, 'without a key nothing changes')

  ws.terminate()
  await app.close()
  app = await build(t, { databasePath })
  const again = await post(app, '/agents/agent-1/messages', { content: 'run the tests' }, 'key-1')
  t.equal(again.statusCode, 202, 'after a restart: the answer is still there (the agent is not even connected now)')
  t.same(again.json(), first.json())
})

test('every operator POST takes the key: clear-context, interrupt, an approval decision', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '200', CONTROL_WAIT_MS: '5000', TOOL_POLICY: 'ask:Bash' } })
  const { ws, inbox } = await agent(t, app)
  const clear1 = await post(app, '/agents/agent-1/clear-context', {}, 'clear-1')
  const clear2 = await post(app, '/agents/agent-1/clear-context', {}, 'clear-1')
  t.same([clear1.statusCode, clear2.statusCode], [200, 200])
  t.same(clear2.json(), clear1.json())
  t.equal((await walk(app, 'agent-1')).filter(e => e.event_type === 'context_cleared').length, 1, 'one clear')

  // an interrupt waits for the agent's answer: a second request with its key meanwhile is told to come back
  const pending = post(app, '/agents/agent-1/interrupt', {}, 'stop-1')
  const request = await inbox.next(m => m.type === 'control_request' && m.request?.subtype === 'interrupt')
  const meanwhile = await post(app, '/agents/agent-1/interrupt', {}, 'stop-1')
  t.equal(meanwhile.statusCode, 409)
  t.equal(meanwhile.json().code, 'request_in_progress')
  t.equal(meanwhile.headers['retry-after'], '1')
  ws.send(line({ type: 'control_response', response: { subtype: 'success', request_id: request.request_id, response: {} } }))
  const done = await pending
  t.equal(done.statusCode, 200)
  const replay = await post(app, '/agents/agent-1/interrupt', {}, 'stop-1')
  t.same(replay.json(), done.json())
  t.equal(inbox.lines.filter(m => m.type === 'control_request' && m.request?.subtype === 'interrupt').length, 0, 'no second interrupt was sent')

  ws.send(line({ type: 'control_request', request_id: 'perm-1', request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'ls' } } }))
  await sync(app, ws, inbox)
  const decision = { behavior: 'allow' }
  const d1 = await post(app, '/agents/agent-1/approvals/perm-1', decision, 'decide-1')
  const d2 = await post(app, '/agents/agent-1/approvals/perm-1', decision, 'decide-1')
  t.equal(d1.statusCode, 200)
  t.same([d2.statusCode, d2.json()], [200, d1.json()], 'the decision answered again, not 409 already_decided')
  const noKey = await post(app, '/agents/agent-1/approvals/perm-1', decision)
  t.equal(noKey.statusCode, 409, 'without the key a second decision is a conflict')
})

test('a prompt reaches the agent only once committed: the storage held past WRITE_TIMEOUT_MS, 503, the agent got nothing, the key is free again', { skip: sqlitePassOnly }, async (t) => {
  const databasePath = tempDatabasePath(t)
  const app = await build(t, { databasePath, sqlite: true, env: { WRITE_TIMEOUT_MS: '300', SQLITE_BUSY_TIMEOUT_MS: '20' } })
  const { ws, inbox } = await agent(t, app)
  const locker = new SQLite(databasePath)
  locker.exec('BEGIN EXCLUSIVE')
  t.teardown(() => { if (locker.open) { locker.exec('COMMIT'); locker.close() } })
  const held = await post(app, '/agents/agent-1/messages', { content: 'unkeyed' })
  t.equal(held.statusCode, 503, held.body)
  t.equal(held.json().code, 'write_timeout')
  // still queued at the deadline: taken out; already being written (the writer was retrying it): sent once written
  const dropped = /nothing was stored or sent/.test(held.json().message)
  t.match(held.json().message, dropped ? /nothing was stored or sent/ : /sent to the agent once it is/)
  // with a key: the key itself cannot be recorded, so nothing is done either
  const keyed = await post(app, '/agents/agent-1/messages', { content: 'during the outage' }, 'outage-1')
  t.equal(keyed.statusCode, 503, keyed.body)
  t.match(keyed.json(), { code: 'unavailable', message: /nothing was done/ })
  locker.exec('COMMIT')
  locker.close()
  await app.events.flush()
  await sync(app, ws, inbox)
  const stored = (await walk(app, 'agent-1')).filter(e => e.event_type === 'prompt_sent').map(e => e.content)
  t.same(prompts(inbox), stored, 'the agent got exactly the prompts the log holds')
  t.same(stored, dropped ? [] : ['unkeyed'], dropped ? 'nothing of the dropped prompt' : 'the prompt written late was sent then')
  // the retry with the same key runs it now, once
  const retry = await post(app, '/agents/agent-1/messages', { content: 'during the outage' }, 'outage-1')
  t.equal(retry.statusCode, 202)
  await sync(app, ws, inbox)
  t.same(prompts(inbox), [...stored, 'during the outage'])
})

test('on another instance the same key answers what the first instance did', { skip: postgresUrl === '' ? 'DATABASE_URL is not set' : false }, async (t) => {
  const { servers } = await startInstances(t, 2)
  const [a, b] = servers
  const ws = agentSocket(a.wsUrl, 'agent-y')
  t.teardown(() => ws.terminate())
  await opened(ws)
  const send = async (base: string) => await getJson(`${base}/agents/agent-y/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'shared-1' }, body: JSON.stringify({ content: 'once' })
  })
  const first = await send(a.url)
  t.equal(first.status, 202)
  const second = await send(b.url)
  t.same([second.status, second.body], [202, first.body])
  const events = (await getJson(`${b.url}/agents/agent-y/events`)).body.events
  t.equal(events.filter((e: any) => e.event_type === 'prompt_sent').length, 1, 'one prompt stored')
})
