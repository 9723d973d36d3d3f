// Access control (tokens, roles, agent globs, 401 vs 403, sockets), and the HTTP hardening around it:
// security headers, CORS, the operator rate limit, and tokens kept out of the log.
import { test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { get as httpGet } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { WebSocket } from 'ws'
import { build, collect, sync, line, assistantText, listen, closed, tempDatabasePath } from './helper.js'
import { startServer, waitFor } from './support/server-process.js'
import { ConfigError, loadConfig } from '../src/config.js'
import { createTokenCheck, redactUrl } from '../plugins/auth.js'

const TOKENS = 'reader:r-secret-123,operator:o-secret-456,agent:a-secret-789:build-*,agent:a-any-000'
const READER = 'r-secret-123'
const OPERATOR = 'o-secret-456'
const BUILD_AGENT = 'a-secret-789'
const ANY_AGENT = 'a-any-000'

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function secured (t: Parameters<typeof build>[0], env: Record<string, string> = {}): Promise<FastifyInstance> {
  return await build(t, { env: { AUTH_TOKENS: TOKENS, CLEAR_CONTEXT_WAIT_MS: '0', ...env } })
}

/** Opens a real socket and reports how it ended up: open, or closed with a code, or refused with an HTTP status. */
async function openSocket (url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers })
  // before 'open': the first messages can come in the same read as the upgrade answer
  const inbox = collect(ws)
  const outcome = await new Promise<'open' | { status: number }>((resolve, reject) => {
    ws.once('open', () => resolve('open'))
    ws.once('unexpected-response', (_req, res) => { resolve({ status: res.statusCode ?? 0 }); ws.terminate() })
    ws.once('error', reject)
  })
  return { ws, outcome, inbox }
}

test('AUTH_TOKENS and AUTH_TOKENS_FILE: roles, globs, and errors that name the entry but never the token', async (t) => {
  const config = loadConfig({ AUTH_TOKENS: ' reader:r1 , operator:o1,agent:a1:build-*,agent:a2:team:x-? ' })
  t.same(config.authTokens, [
    { role: 'reader', token: 'r1', name: null, agentGlob: null },
    { role: 'operator', token: 'o1', name: null, agentGlob: null },
    { role: 'agent', token: 'a1', name: null, agentGlob: 'build-*' },
    { role: 'agent', token: 'a2', name: null, agentGlob: 'team:x-?' }
  ])
  t.same(loadConfig({}).authTokens, [], 'off by default')

  const dir = mkdtempSync(join(tmpdir(), 'agentlog-tokens-'))
  t.teardown(() => import('node:fs').then(fs => fs.rmSync(dir, { recursive: true, force: true })))
  const file = join(dir, 'tokens')
  writeFileSync(file, '# one entry a line\nreader:file-r\n\n  operator:file-o  \n')
  t.same(loadConfig({ AUTH_TOKENS: 'agent:inline-a', AUTH_TOKENS_FILE: file }).authTokens.map(x => x.token), ['inline-a', 'file-r', 'file-o'])

  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ AUTH_TOKENS: 'admin:s3cr3t-value' }, /^AUTH_TOKENS entry 1: .*role "admin"/],
    [{ AUTH_TOKENS: 'reader:' }, /^AUTH_TOKENS entry 1: the token/],
    [{ AUTH_TOKENS: 'reader:ok,reader:s3cr3t value' }, /^AUTH_TOKENS entry 2: the token/],
    [{ AUTH_TOKENS: 'reader:s3cr3t-value:build-*' }, /only agent tokens take an agent-id glob/],
    [{ AUTH_TOKENS: 'agent:s3cr3t-value:bad/glob' }, /agent-id glob/],
    [{ AUTH_TOKENS: 'reader:s3cr3t-value,operator:s3cr3t-value' }, /same token is listed twice/],
    [{ AUTH_TOKENS_FILE: join(dir, 'missing') }, /^AUTH_TOKENS_FILE .* cannot be read/],
    [{ ALLOW_UNAUTHENTICATED: 'maybe' }, /^ALLOW_UNAUTHENTICATED must be 1 or 0/]
  ]
  for (const [env, message] of bad) {
    const err = (() => { try { loadConfig(env); return null } catch (e) { return e as Error } })()
    t.ok(err instanceof ConfigError, `${JSON.stringify(env)} is refused`)
    t.match(err?.message, message)
    t.notMatch(err?.message, /s3cr3t/, 'the message never shows a token')
  }
})

test('a non-loopback HOST without tokens is refused unless ALLOW_UNAUTHENTICATED=1', async (t) => {
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'agentlog.internal']) {
    t.throws(() => loadConfig({ HOST: host }), { name: 'ConfigError', message: /HOST .* not a loopback address.*AUTH_TOKENS.*ALLOW_UNAUTHENTICATED=1/ }, host)
    t.equal(loadConfig({ HOST: host, ALLOW_UNAUTHENTICATED: '1' }).host, host)
    t.equal(loadConfig({ HOST: host, AUTH_TOKENS: 'reader:r' }).host, host)
  }
  for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
    t.equal(loadConfig({ HOST: host }).host, host, `${host} is loopback`)
  }
})

test('the token check finds the right holder, and nothing for near misses', async (t) => {
  const check = createTokenCheck(loadConfig({ AUTH_TOKENS: TOKENS }).authTokens)
  t.match(check(READER), { role: 'reader', tokenNumber: 1 })
  t.match(check(BUILD_AGENT), { role: 'agent', tokenNumber: 3 })
  for (const guess of ['', 'r-secret-12', 'r-secret-1234', 'R-SECRET-123', ' r-secret-123', 'x'.repeat(10000)]) {
    t.equal(check(guess), null, JSON.stringify(guess.slice(0, 20)))
  }
})

test('without AUTH_TOKENS everything is open (the loopback default)', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'GET', url: '/agents' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200)
  const ws = await app.injectWS('/ws/open-agent')
  t.teardown(() => ws.terminate())
  ws.send(line(assistantText('hi')))
  await sync(app, ws)
  t.equal(app.agents.isConnected('open-agent'), true)
})

test('REST: 401 without a known token, 403 when the role is not enough, health always open', async (t) => {
  const app = await secured(t)
  const cases: Array<[string, string, Record<string, string>, number]> = [
    ['GET', '/health/live', {}, 200],
    ['GET', '/health/ready', {}, 200],
    ['GET', '/agents', {}, 401],
    ['GET', '/agents', bearer('wrong'), 401],
    ['GET', '/agents', bearer(READER + 'x'), 401],
    ['GET', '/agents', { authorization: `Basic ${READER}` }, 401],
    ['GET', '/agents', { authorization: READER }, 401],
    ['GET', '/agents', bearer(BUILD_AGENT), 403],
    ['GET', '/agents', bearer(READER), 200],
    ['GET', '/agents', { authorization: `bearer ${READER}` }, 200],
    ['GET', '/agents', bearer(OPERATOR), 200],
    ['HEAD', '/agents', bearer(READER), 200],
    ['GET', `/agents?token=${READER}`, {}, 401],
    ['GET', '/metrics', {}, 401],
    ['GET', '/metrics', bearer(READER), 200],
    ['GET', '/agents/nobody/events', bearer(READER), 404],
    ['GET', '/agents/nobody/sessions', bearer(ANY_AGENT), 403],
    ['GET', '/no/such/route', {}, 401],
    ['GET', '/no/such/route', bearer(READER), 404],
    ['POST', '/agents/nobody/messages', {}, 401],
    ['POST', '/agents/nobody/messages', bearer(BUILD_AGENT), 403],
    ['POST', '/agents/nobody/messages', bearer(READER), 403],
    ['POST', '/agents/nobody/messages', bearer(OPERATOR), 409],
    ['POST', '/agents/nobody/clear-context', bearer(READER), 403],
    ['POST', '/agents/nobody/clear-context', bearer(OPERATOR), 404],
    ['DELETE', '/agents/nobody', bearer(READER), 403]
  ]
  for (const [method, url, headers, status] of cases) {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: method === 'POST' ? { ...headers, 'content-type': 'application/json' } : headers,
      payload: method === 'POST' ? JSON.stringify(url.endsWith('/messages') ? { content: 'hello' } : {}) : undefined
    })
    const label = `${method} ${url} ${JSON.stringify(headers)}`
    t.equal(res.statusCode, status, label)
    if (status === 401 || status === 403) {
      t.match(res.json(), { error: status === 401 ? 'Unauthorized' : 'Forbidden', message: String }, `${label}: error body`)
      t.notMatch(res.body, /secret/, 'the body never echoes a token')
    }
    if (status === 401) t.match(res.headers['www-authenticate'], /^Bearer/)
  }
  const forbidden = await app.inject({ method: 'POST', url: '/agents/nobody/messages', headers: bearer(READER), payload: { content: 'x' } })
  t.match(forbidden.json().message, /needs the operator role; this token has reader/)
})

test('agent sockets: the token and its glob decide; refused ones are upgraded then closed with 4003', async (t) => {
  const app = await secured(t)
  const base = await listen(app)

  const allowed = await openSocket(`${base}/ws/build-42`, bearer(BUILD_AGENT))
  t.teardown(() => allowed.ws.terminate())
  t.equal(allowed.outcome, 'open')
  allowed.ws.send(line(assistantText('from build-42')))
  await sync(app, allowed.ws)
  t.equal(app.agents.isConnected('build-42'), true)

  const viaQuery = await openSocket(`${base}/ws/anything-1?token=${ANY_AGENT}`)
  t.teardown(() => viaQuery.ws.terminate())
  t.equal(viaQuery.outcome, 'open', 'browsers may pass ?token=')
  await sync(app, viaQuery.ws)
  t.equal(app.agents.isConnected('anything-1'), true)

  const refusals: Array<[string, Record<string, string>, RegExp]> = [
    ['/ws/deploy-1', bearer(BUILD_AGENT), /may not connect as "deploy-1"/],
    ['/ws/build', bearer(BUILD_AGENT), /may not connect as "build"/],
    ['/ws/build-2', {}, /needs a token/],
    ['/ws/build-2', bearer('nope'), /unknown token/],
    ['/ws/build-2?token=nope', {}, /unknown token/],
    ['/ws/build-2', bearer(READER), /reader token cannot connect as an agent/],
    ['/ws/build-2', bearer(OPERATOR), /operator token cannot connect as an agent/]
  ]
  for (const [path, headers, reason] of refusals) {
    const { ws, outcome } = await openSocket(`${base}${path}`, headers)
    t.teardown(() => ws.terminate())
    t.equal(outcome, 'open', `${path}: upgraded, so the CLI sees a close code`)
    const end = await closed(ws)
    t.equal(end.code, 4003, `${path}: 4003 (the CLI stops retrying)`)
    t.match(end.reason, reason)
  }
  const listing = await app.inject({ method: 'GET', url: '/agents', headers: bearer(READER) })
  t.same(listing.json().agents.map((a: any) => a.agent_id).sort(), ['anything-1', 'build-42'], 'a refused socket creates no agent')

  const plain = await app.inject({ method: 'GET', url: '/ws/build-2' })
  t.equal(plain.statusCode, 401, 'a plain GET on the agent route is refused like any request')
})

test('stream sockets and event streams: refused before the upgrade; ?token= works for browsers', async (t) => {
  const app = await secured(t)
  const base = await listen(app)
  const http = base.replace(/^ws/, 'http')

  t.same((await openSocket(`${base}/stream/ws`)).outcome, { status: 401 })
  t.same((await openSocket(`${base}/stream/ws`, bearer(BUILD_AGENT))).outcome, { status: 403 })
  t.same((await openSocket(`${base}/stream/ws?token=nope`)).outcome, { status: 401 })
  for (const opened of [await openSocket(`${base}/stream/ws`, bearer(READER)), await openSocket(`${base}/stream/ws?token=${READER}&after=latest`)]) {
    t.teardown(() => opened.ws.terminate())
    t.equal(opened.outcome, 'open')
    await opened.inbox.next(m => m.type === 'caught_up')
  }

  // one connection per stream, closed once the status is in (fetch would keep spare connections open)
  function sse (url: string, headers: Record<string, string> = {}): Promise<{ status: number, type: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = httpGet(url, { headers, agent: false }, (res) => {
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] })
        req.destroy()
      })
      req.on('error', reject)
    })
  }
  t.equal((await sse(`${http}/stream`)).status, 401)
  t.equal((await sse(`${http}/stream?token=${ANY_AGENT}`)).status, 403)
  t.match(await sse(`${http}/stream?token=${READER}`), { status: 200, type: /^text\/event-stream/ })
  t.match(await sse(`${http}/stream`, bearer(OPERATOR)), { status: 200, type: /^text\/event-stream/ })
})

test('operator routes are rate limited per token with 429 { error, message }; reads are not', async (t) => {
  const app = await secured(t, { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000', AUTH_TOKENS: `${TOKENS},operator:o-second` })
  const post = (token: string) => app.inject({ method: 'POST', url: '/agents/nobody/clear-context', headers: bearer(token) })
  for (let i = 0; i < 3; i++) t.equal((await post(OPERATOR)).statusCode, 404, `operator request ${i + 1} passes`)
  const limited = await post(OPERATOR)
  t.equal(limited.statusCode, 429)
  t.match(limited.json(), { error: 'Too Many Requests', message: /at most 3 operator requests per 60 s/ })
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After')
  t.equal((await post('o-second')).statusCode, 404, 'another operator token has its own budget')
  for (let i = 0; i < 10; i++) {
    t.equal((await app.inject({ method: 'GET', url: '/agents', headers: bearer(OPERATOR) })).statusCode, 200)
  }
  t.equal((await app.inject({ method: 'POST', url: '/agents/nobody/messages', headers: bearer(READER), payload: { content: 'x' } })).statusCode, 403,
    'a forbidden request is refused before it counts')
})

test('RATE_LIMIT_MAX=0 turns the limit off', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_MAX: '0' } })
  for (let i = 0; i < 20; i++) {
    t.equal((await app.inject({ method: 'POST', url: '/agents/nobody/clear-context' })).statusCode, 404)
  }
})

test('security headers on every answer', async (t) => {
  const app = await build(t)
  for (const url of ['/agents', '/health/live', '/nowhere']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', url)
    t.match(res.headers['content-security-policy'], /default-src 'self'/, url)
    t.match(res.headers['strict-transport-security'], /max-age=/, url)
    t.notOk(res.headers['x-powered-by'], url)
  }
})

test('CORS: off unless CORS_ORIGINS is set; then only those origins, and preflights need no token', async (t) => {
  const closedApp = await build(t)
  const none = await closedApp.inject({ method: 'GET', url: '/agents', headers: { origin: 'https://ui.example.com' } })
  t.notOk(none.headers['access-control-allow-origin'], 'no CORS by default')

  const app = await secured(t, { CORS_ORIGINS: 'https://ui.example.com, http://localhost:5173' })
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/agents/a1/messages',
    headers: { origin: 'https://ui.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' }
  })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://ui.example.com')
  t.match(preflight.headers['access-control-allow-headers'], /authorization/)
  t.match(preflight.headers['access-control-allow-methods'], /POST/)

  const get = await app.inject({ method: 'GET', url: '/agents', headers: { origin: 'http://localhost:5173', ...bearer(READER) } })
  t.equal(get.statusCode, 200)
  t.equal(get.headers['access-control-allow-origin'], 'http://localhost:5173')
  const other = await app.inject({ method: 'GET', url: '/agents', headers: { origin: 'https://evil.example.com', ...bearer(READER) } })
  t.notOk(other.headers['access-control-allow-origin'], 'an origin not listed gets no CORS header')

  t.throws(() => loadConfig({ CORS_ORIGINS: 'ui.example.com' }), { name: 'ConfigError', message: /^CORS_ORIGINS/ })
})

test('CORS: a UI on another origin may remove a remembered rule; preflights allow every method the routes have, DELETE included', async (t) => {
  const ui = 'https://ui.example.com'
  const app = await secured(t, { CORS_ORIGINS: ui, TOOL_POLICY: 'ask:Bash' })
  // a rule to remove: the agent asks, an operator allows and remembers it
  const agent = await app.injectWS('/ws/build-1', { headers: bearer(BUILD_AGENT) })
  t.teardown(() => agent.terminate())
  const inbox = collect(agent)
  agent.send(line({ type: 'control_request', request_id: 'ask-1', request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'make' }, tool_use_id: 'toolu_1' } }))
  await sync(app, agent, inbox)
  const decided = await app.inject({ method: 'POST', url: '/agents/build-1/approvals/ask-1', headers: bearer(OPERATOR), payload: { behavior: 'allow', remember: 'agent' } })
  t.equal(decided.statusCode, 200)
  const rules = async () => (await app.inject({ method: 'GET', url: '/agents/build-1/rules', headers: bearer(READER) })).json().rules
  const [rule] = await rules()
  const url = `/agents/build-1/rules/${rule.id as string}`

  const preflight = await app.inject({
    method: 'OPTIONS',
    url,
    headers: { origin: ui, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' }
  })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], ui)
  t.match(preflight.headers['access-control-allow-headers'], /authorization/)
  const allowed = String(preflight.headers['access-control-allow-methods']).split(/,\s*/)
  t.ok(allowed.includes('DELETE'), `DELETE allowed (${allowed.join(', ')})`)
  t.same([...allowed].sort(), [...new Set(['HEAD', ...app.routeList.map(r => r.method)])].sort(), 'exactly the methods the routes answer')

  const removed = await app.inject({ method: 'DELETE', url, headers: { origin: ui, ...bearer(OPERATOR) } })
  t.equal(removed.statusCode, 200)
  t.equal(removed.headers['access-control-allow-origin'], ui, 'the answer is readable by the UI')
  t.same(await rules(), [])
})

test('redactUrl masks ?token= wherever it is in the query', async (t) => {
  t.equal(redactUrl('/ws/a?token=abc'), '/ws/a?token=[REDACTED]')
  t.equal(redactUrl('/stream?after=1&token=abc&type=output'), '/stream?after=1&token=[REDACTED]&type=output')
  t.equal(redactUrl('/agents?tokens=1'), '/agents?tokens=1')
})

test('a real server: tokens in URLs never reach the log, the header is never logged', async (t) => {
  const server = await startServer(t, { databasePath: tempDatabasePath(t), env: { AUTH_TOKENS: TOKENS, LOG_LEVEL: 'debug' } })
  const agent = await openSocket(`${server.wsUrl}/ws/build-7?token=${BUILD_AGENT}`)
  t.teardown(() => agent.ws.terminate())
  t.equal(agent.outcome, 'open')
  const refused = await openSocket(`${server.wsUrl}/ws/deploy-7?token=${BUILD_AGENT}`)
  t.equal((await closed(refused.ws)).code, 4003)
  const stream = await openSocket(`${server.wsUrl}/stream/ws?token=${READER}`)
  t.teardown(() => stream.ws.terminate())
  await stream.inbox.next(m => m.type === 'caught_up')
  t.equal((await fetch(`${server.url}/agents?token=${OPERATOR}`)).status, 401)
  t.equal((await fetch(`${server.url}/agents`, { headers: bearer(OPERATOR) })).status, 200)
  const gone = closed(agent.ws)
  agent.ws.close()
  await gone
  // the server logs the agent's disconnect after everything above: the log is complete up to here
  await waitFor('the "agent disconnected" log line', () => server.logs.some(l => l.msg === 'agent disconnected' && l.agentId === 'build-7') ? true : undefined)
  const text = server.logs.map(l => JSON.stringify(l)).join('\n')
  t.match(text, /token=\[REDACTED\]/, 'the URLs are logged, masked')
  for (const secret of [BUILD_AGENT, READER, OPERATOR]) t.notMatch(text, new RegExp(secret), `${secret} is not in the log`)
})
