// /mcp through the real app and the official MCP client (StreamableHTTPClientTransport), on SQLite and (when
// DATABASE_URL is set) PostgreSQL: the tools, their errors, and what each token may read.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { request as httpRequest } from 'node:http'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { build, collect, searchable, sync, assistantText, resultLine, line, listen, type TestContext } from './helper.js'

const READER = 'reader-token-0123456789'
const OPERATOR = 'operator-token-0123456789'
const BUILD_AGENT = 'agent-token-build-0123456789'
const ANY_AGENT = 'agent-token-any-0123456789'
const TOKENS = `reader:${READER},operator:${OPERATOR},agent:${BUILD_AGENT}:build-*,agent:${ANY_AGENT}`

function toolUse (name: string, input: Record<string, unknown>, id: string) {
  return { type: 'assistant', message: { id: `msg_${id}`, role: 'assistant', content: [{ type: 'tool_use', id, name, input }] }, parent_tool_use_id: null, session_id: 's', uuid: `u-${id}` }
}
function toolResult (text: string, id: string) {
  return { type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: text }] }, parent_tool_use_id: null, session_id: 's', uuid: `r-${id}` }
}
function init (model: string, cwd: string) {
  return { type: 'system', subtype: 'init', model, cwd, session_id: 's', tools: [], uuid: `init-${model}-${cwd}` }
}

async function agentSays (t: TestContext, app: FastifyInstance, agentId: string, token: string, messages: unknown[]) {
  const ws = await app.injectWS(`/ws/${agentId}`, { headers: { authorization: `Bearer ${token}` } })
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(messages.map(line).join(''))
  await sync(app, ws, inbox)
  return ws
}

/** A result's per-model counters (the CLI's modelUsage): what the usage tool sums. */
function modelUsage (model: string, input: number, usd: number): Record<string, unknown> {
  return { [model]: { inputTokens: input, outputTokens: input / 10, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, webSearchRequests: 0, costUSD: usd, contextWindow: 200000 } }
}

/** The fleet: build-1 met a flaky test and fixed it; build-2 is on it now; deploy-1 did something else. */
async function fleet (t: TestContext): Promise<{ app: FastifyInstance, url: URL }> {
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS } })
  await agentSays(t, app, 'build-1', BUILD_AGENT, [
    init('claude-sonnet-4-6', '/src/api'),
    assistantText('Running the suite: test/queue.test.ts is flaky with ECONNRESET zebrafish'),
    toolUse('Bash', { command: 'npm test -- test/queue.test.ts' }, 'toolu_1'),
    toolResult('not ok 3 - queue drains\n  error: ECONNRESET zebrafish on retry', 'toolu_1'),
    assistantText('Fixed the zebrafish flake by awaiting the drain before close'),
    resultLine(0.25, { modelUsage: modelUsage('claude-sonnet-4-6', 1000, 0.25) })
  ])
  await agentSays(t, app, 'build-2', ANY_AGENT, [
    init('claude-opus-4-1', '/src/web'),
    assistantText('Now looking at the zebrafish flake myself'),
    resultLine(1.5, { modelUsage: modelUsage('claude-opus-4-1', 3000, 1.5) })
  ])
  await agentSays(t, app, 'deploy-1', ANY_AGENT, [
    init('claude-opus-4-1', '/src/deploy'),
    assistantText('Deployed; the zebrafish canary is green'),
    resultLine(0.5, { modelUsage: modelUsage('claude-opus-4-1', 2000, 0.5) })
  ])
  await searchable(app)
  const base = await listen(app)
  return { app, url: new URL(base.replace(/^ws/, 'http') + '/mcp') }
}

async function client (t: TestContext, url: URL, token: string | null, headers: Record<string, string> = {}): Promise<Client> {
  const c = new Client({ name: 'agentlog-test', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers } }
  })
  await c.connect(transport)
  t.teardown(() => c.close())
  return c
}

async function call (c: Client, name: string, args: Record<string, unknown>): Promise<{ isError: boolean, text: string, json: any }> {
  const res = await c.callTool({ name, arguments: args })
  const text = (res.content as Array<{ type: string, text: string }>).map(b => b.text).join('')
  let json: any = null
  try { json = JSON.parse(text) } catch {}
  return { isError: res.isError === true, text, json }
}

test('the tools: listed with schemas and descriptions, each answering from the fleet\'s history', async (t) => {
  const { url } = await fleet(t)
  const c = await client(t, url, READER)

  const { tools } = await c.listTools()
  t.same(tools.map(x => x.name).sort(), ['get_events', 'list_agents', 'list_sessions', 'search', 'usage'])
  for (const tool of tools) {
    t.ok((tool.description ?? '').length > 80, `${tool.name} has a description written for a model`)
    t.equal(tool.inputSchema.type, 'object', `${tool.name} has a JSON schema`)
    t.equal(tool.annotations?.readOnlyHint, true, `${tool.name} says it only reads`)
  }
  const search = tools.find(x => x.name === 'search')
  t.same((search?.inputSchema as any).required, ['query'])

  const found = await call(c, 'search', { query: 'ECONNRESET zebrafish' })
  t.equal(found.isError, false)
  t.ok(found.json.hits.length >= 2, 'the output and the tool result')
  for (const h of found.json.hits) {
    t.equal(h.agent, 'build-1')
    t.same(Object.keys(h).sort(), ['agent', 'seq', 'session', 'snippet', 'time', 'type'])
  }
  t.ok(found.json.hits.some((h: any) => h.type === 'tool_result' && h.snippet.includes('queue drains')))

  const onlyResults = await call(c, 'search', { query: 'zebrafish', type: ['tool_result'] })
  t.same(onlyResults.json.hits.map((h: any) => h.type), ['tool_result'])
  const ofAgent = await call(c, 'search', { query: 'zebrafish', agent: 'deploy-1' })
  t.same(ofAgent.json.hits.map((h: any) => h.agent), ['deploy-1'])
  const future = await call(c, 'search', { query: 'zebrafish', since: '2999-01-01T00:00:00Z' })
  t.same(future.json.hits, [])
  const paged = await call(c, 'search', { query: 'zebrafish', limit: 1 })
  t.equal(paged.json.hits.length, 1)
  const next = await call(c, 'search', { query: 'zebrafish', limit: 1, cursor: paged.json.next_cursor })
  t.equal(next.json.hits.length, 1)
  t.not(`${next.json.hits[0].agent}/${next.json.hits[0].seq}`, `${paged.json.hits[0].agent}/${paged.json.hits[0].seq}`, 'the cursor walks on')

  const agents = await call(c, 'list_agents', {})
  t.same(agents.json.agents.map((a: any) => a.agent), ['build-1', 'build-2', 'deploy-1'])
  const b1 = agents.json.agents[0]
  t.equal(b1.cwd, '/src/api')
  t.equal(b1.model, 'claude-sonnet-4-6')
  t.equal(b1.cost_usd, 0.25)
  t.equal(b1.current_session, 0)
  t.equal(b1.state, 'idle', 'connected, its turn over')
  t.type(b1.last_activity, 'string')

  const sessions = await call(c, 'list_sessions', { agent: 'build-1' })
  t.equal(sessions.json.current_session, 0)
  t.equal(sessions.json.sessions.length, 1)
  t.equal(sessions.json.sessions[0].cost_usd, 0.25)
  t.equal(sessions.json.sessions[0].first_seq, 1)

  const hit = found.json.hits.find((h: any) => h.type === 'tool_result')
  const around = await call(c, 'get_events', { agent: 'build-1', around: hit.seq, limit: 3 })
  t.same(around.json.events.map((e: any) => e.seq), [hit.seq - 1, hit.seq, hit.seq + 1], 'the hit with one before and one after')
  t.equal(around.json.events[0].type, 'tool_use')
  t.match(around.json.events[0].meta, /npm test -- test\/queue\.test\.ts/)
  t.equal(around.json.has_more_before, true)
  t.equal(around.json.has_more_after, true)

  const cut = await call(c, 'get_events', { agent: 'build-1', after: hit.seq - 1, limit: 1, max_chars: 100 })
  t.same(cut.json.events.map((e: any) => e.seq), [hit.seq])
  t.ok(cut.json.events[0].content.length <= 100)

  const newest = await call(c, 'get_events', { agent: 'build-1', limit: 2 })
  t.equal(newest.json.events[1].seq, newest.json.latest_seq, 'without a position: the newest, in order')
  t.equal(newest.json.has_more_after, false)

  const byAgent = await call(c, 'usage', {})
  t.same(byAgent.json.rows.map((r: any) => [r.key, r.cost_usd]), [['build-2', 1.5], ['deploy-1', 0.5], ['build-1', 0.25]])
  t.equal(byAgent.json.total.cost_usd, 2.25)
  const byModel = await call(c, 'usage', { by: 'model' })
  t.same(byModel.json.rows.map((r: any) => [r.key, r.cost_usd, r.sessions]), [['claude-opus-4-1', 2, 2], ['claude-sonnet-4-6', 0.25, 1]])
  t.match(byModel.json.rows[0], { input_tokens: 5000, output_tokens: 500, cost_source: 'reported' }, 'the CLI\'s per-model counters')
  t.match(byModel.json, { total: { cost_usd: 2.25, input_tokens: 6000, sessions: 3 }, unpriced_models: [] })
  const none = await call(c, 'usage', { until: '2000-01-01T00:00:00Z' })
  t.same(none.json.rows, [])
  const since = await call(c, 'usage', { since: '2000-01-01T00:00:00Z' })
  t.equal(since.json.total.cost_usd, 2.25, 'since a time long ago: everything')
  const one = await call(c, 'usage', { agent: 'deploy-1', by: 'model' })
  t.same(one.json.rows.map((r: any) => [r.key, r.cost_usd, r.input_tokens]), [['claude-opus-4-1', 0.5, 2000]])
  const backwards = await call(c, 'usage', { since: '2026-03-02T00:00:00Z', until: '2026-03-01T00:00:00Z' })
  t.equal(backwards.isError, true)
  t.match(backwards.text, /from must be before to/)
})

test('a caller\'s mistakes are tool errors the model reads, not protocol failures', async (t) => {
  const { url } = await fleet(t)
  const c = await client(t, url, READER)
  const unknown = await call(c, 'get_events', { agent: 'nobody' })
  t.equal(unknown.isError, true)
  t.match(unknown.text, /unknown agent "nobody".*list_agents/)
  t.equal((await call(c, 'list_sessions', { agent: 'nobody' })).isError, true)
  const badQuery = await call(c, 'search', { query: '(unclosed' })
  t.equal(badQuery.isError, true)
  t.match(badQuery.text, /^q: /)
  const badCursor = await call(c, 'search', { query: 'zebrafish', cursor: 'nonsense' })
  t.equal(badCursor.isError, true)
  const both = await call(c, 'get_events', { agent: 'build-1', after: 1, before: 3 })
  t.equal(both.isError, true)
  t.match(both.text, /at most one of around, after and before/)
  const wrongType = await call(c, 'get_events', { agent: 'build-1', limit: 'ten' })
  t.equal(wrongType.isError, true, 'arguments against the schema')
  for (const [tool, args] of [['usage', { since: 'last tuesday' }], ['search', { query: 'zebrafish', until: 'soon' }]] as const) {
    const res = await call(c, tool, args)
    t.equal(res.isError, true, `${tool}: a time that is not one`)
  }
  // the connection is still good after all of these
  t.equal((await call(c, 'list_agents', {})).isError, false)
})

test('auth: no token 401, any valid token answered; an agent token reads only its glob\'s agents', async (t) => {
  const { url } = await fleet(t)
  await t.rejects(client(t, url, null), /"code":"unauthorized"/)
  await t.rejects(client(t, url, 'not-a-token'), /unknown token/)

  for (const token of [READER, OPERATOR, ANY_AGENT]) {
    const c = await client(t, url, token)
    const agents = await call(c, 'list_agents', {})
    t.same(agents.json.agents.map((a: any) => a.agent), ['build-1', 'build-2', 'deploy-1'])
  }

  const scoped = await client(t, url, BUILD_AGENT)
  t.same((await call(scoped, 'list_agents', {})).json.agents.map((a: any) => a.agent), ['build-1', 'build-2'])
  const hits = (await call(scoped, 'search', { query: 'zebrafish', limit: 50 })).json.hits
  t.same([...new Set(hits.map((h: any) => h.agent))].sort(), ['build-1', 'build-2'], 'deploy-1\'s canary is not found')
  for (const [tool, args] of [['get_events', { agent: 'deploy-1' }], ['list_sessions', { agent: 'deploy-1' }], ['search', { query: 'zebrafish', agent: 'deploy-1' }], ['usage', { agent: 'deploy-1' }]] as const) {
    const res = await call(scoped, tool, args)
    t.equal(res.isError, true, `${tool} of deploy-1`)
    t.match(res.text, /unknown agent "deploy-1"/, 'the same answer as for an agent that does not exist')
  }
  t.same((await call(scoped, 'usage', {})).json.rows.map((r: any) => r.key), ['build-2', 'build-1'])
})

test('search leaves out the calling agent\'s own current session unless asked', async (t) => {
  const { url } = await fleet(t)
  const asBuild2 = await client(t, url, BUILD_AGENT, { 'x-agentlog-agent': 'build-2' })
  const agentsOf = (r: any) => [...new Set(r.json.hits.map((h: any) => h.agent))].sort()
  t.same(agentsOf(await call(asBuild2, 'search', { query: 'zebrafish flake' })), ['build-1'])
  t.same(agentsOf(await call(asBuild2, 'search', { query: 'zebrafish flake', include_own_session: true })), ['build-1', 'build-2'])
  // a header naming an agent the token may not read is no identity
  const outside = await client(t, url, BUILD_AGENT, { 'x-agentlog-agent': 'deploy-1' })
  t.same(agentsOf(await call(outside, 'search', { query: 'zebrafish flake' })), ['build-1', 'build-2'])
})

test('the endpoint is stateless: GET and DELETE answer 405; a Host or Origin it does not answer to is refused', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS, HOST: '0.0.0.0', MCP_ALLOWED_HOSTS: 'agentlog.example.com' } })
  const base = await listen(app)
  const port = new URL(base).port
  function raw (method: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number, body: string, allow?: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp', method, headers: { authorization: `Bearer ${READER}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json', ...headers } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => { text += d })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, allow: res.headers.allow as string | undefined }))
      })
      req.on('error', reject)
      req.end(body === undefined ? undefined : JSON.stringify(body))
    })
  }
  const list = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }
  const good = { host: `agentlog.example.com:${port}` }
  const ok = await raw('POST', good, list)
  t.equal(ok.status, 200, 'a Host it answers to')
  t.equal(JSON.parse(ok.body).result.tools.length, 5)

  const rebound = await raw('POST', { host: `attacker.example:${port}` }, list)
  t.equal(rebound.status, 403)
  t.match(JSON.parse(rebound.body), { code: 'forbidden', message: /Host "attacker\.example:\d+"/ })
  const loopbackName = await raw('POST', { host: `127.0.0.1:${port}` }, list)
  t.equal(loopbackName.status, 403, 'MCP_ALLOWED_HOSTS replaces the defaults')
  const badOrigin = await raw('POST', { ...good, origin: 'https://attacker.example' }, list)
  t.equal(badOrigin.status, 403)
  t.match(JSON.parse(badOrigin.body).message, /Origin "https:\/\/attacker\.example"/)
  const sameOrigin = await raw('POST', { ...good, origin: 'https://agentlog.example.com' }, list)
  t.equal(sameOrigin.status, 200)

  for (const method of ['GET', 'DELETE']) {
    const res = await raw(method, good)
    t.equal(res.status, 405, method)
    t.equal(res.allow, 'POST')
    t.equal(JSON.parse(res.body).code, 'method_not_allowed')
  }

  // the transport's HTTP refusals come in the API's error shape, with codes; JSON-RPC errors stay JSON-RPC
  const noAccept = await raw('POST', { ...good, accept: 'application/json' }, list)
  t.equal(noAccept.status, 406)
  t.match(JSON.parse(noAccept.body), { error: 'Not Acceptable', code: 'not_acceptable', message: /text\/event-stream/ })
  const noBody = await raw('POST', good)
  t.equal(noBody.status, 400, 'an empty JSON body')
  t.match(JSON.parse(noBody.body), { error: 'Bad Request', code: 'bad_parameter' })
  const notRpc = await raw('POST', good, { hello: 'there' })
  t.equal(notRpc.status, 400)
  t.match(JSON.parse(notRpc.body), { jsonrpc: '2.0', error: { code: -32700 } }, 'a body that is not JSON-RPC: the protocol\'s own error')
})
