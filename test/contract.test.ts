// Responses match the document: the REST routes driven through their main cases, each answer (status, content
// type, body) validated against what /openapi.json says that route answers, the history page's JSON text included.
import { test } from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { build, collect, sync, line, assistantText, resultLine } from './helper.js'
import { contract } from './support/contract.js'
import { isErrorCode } from '../src/errors.js'

async function drive (t: any, app: FastifyInstance, cases: Array<[string, string, InjectOptions, number]>): Promise<void> {
  const c = await contract(app)
  for (const [method, routeUrl, opts, status] of cases) {
    const res = await app.inject({ method: method as 'GET', ...opts })
    t.equal(res.statusCode, status, `${method} ${opts.url}`)
    t.doesNotThrow(() => c.check(method, routeUrl, res), `${method} ${opts.url} ${res.statusCode}: as documented`)
    if (res.statusCode >= 400) t.ok(isErrorCode(res.json().code), `${method} ${opts.url}: a listed code (${res.json().code})`)
  }
}

test('every REST answer of the main cases matches the document', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '0', RATE_LIMIT_MAX: '0' } })
  const ws = await app.injectWS('/ws/agent-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  for (let i = 0; i < 5; i++) ws.send(line(assistantText(`event ${i}`)))
  ws.send(line(resultLine(0.25)))
  await sync(app, ws, inbox)
  const json = { 'content-type': 'application/json' }
  await drive(t, app, [
    ['GET', '/agents', { url: '/agents' }, 200],
    ['GET', '/agents', { url: '/agents?sesion=1' }, 400],
    ['GET', '/agents/:agentId/events', { url: '/agents/agent-1/events?limit=3' }, 200],
    ['GET', '/agents/:agentId/events', { url: '/agents/agent-1/events?order=desc&type=output' }, 200],
    ['GET', '/agents/:agentId/events', { url: '/agents/agent-1/events?limit=0' }, 400],
    ['GET', '/agents/:agentId/events', { url: '/agents/nobody/events' }, 404],
    ['GET', '/agents/:agentId/sessions', { url: '/agents/agent-1/sessions' }, 200],
    ['GET', '/agents/:agentId/sessions', { url: '/agents/nobody/sessions' }, 404],
    ['POST', '/agents/:agentId/messages', { url: '/agents/agent-1/messages', headers: json, payload: '{"content":"hi"}' }, 202],
    ['POST', '/agents/:agentId/messages', { url: '/agents/agent-1/messages', headers: json, payload: '{"content":42}' }, 400],
    ['POST', '/agents/:agentId/messages', { url: '/agents/nobody/messages', headers: json, payload: '{"content":"hi"}' }, 409],
    ['POST', '/agents/:agentId/messages', { url: '/agents/agent-1/messages', headers: { 'content-type': 'application/xml' }, payload: '<hi/>' }, 415],
    ['POST', '/agents/:agentId/clear-context', { url: '/agents/agent-1/clear-context' }, 200],
    ['POST', '/agents/:agentId/clear-context', { url: '/agents/nobody/clear-context' }, 404],
    ['GET', '/health/live', { url: '/health/live' }, 200],
    ['GET', '/metrics', { url: '/metrics' }, 200],
    ['GET', '/set-aside', { url: '/set-aside?agent=agent-1' }, 200],
    ['GET', '/set-aside', { url: '/set-aside?limit=0' }, 400],
    ['GET', '/openapi.json', { url: '/openapi.json' }, 200],
    ['GET', '/agents/:agentId/events/stream', { url: '/agents/nobody/events/stream' }, 404],
    ['GET', '/agents/:agentId/events/ws', { url: '/agents/agent-1/events/ws' }, 426]
  ])
})

test('with access control on: 401 and 403 match the document', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: 'reader:r-contract-1,agent:a-contract-2' } })
  await drive(t, app, [
    ['GET', '/agents', { url: '/agents' }, 401],
    ['GET', '/agents', { url: '/agents', headers: { authorization: 'Bearer a-contract-2' } }, 403],
    ['GET', '/agents', { url: '/agents', headers: { authorization: 'Bearer r-contract-1' } }, 200],
    ['POST', '/agents/:agentId/messages', { url: '/agents/x/messages', headers: { authorization: 'Bearer r-contract-1', 'content-type': 'application/json' }, payload: '{"content":"x"}' }, 403]
  ])
})
