// Property tests: every parameter of every HTTP route, fuzzed. Whatever comes in, the answer is a 2xx or a 4xx
// with an { error, message, code } body (a listed code); never a 5xx, never a stack trace.
import { test, type Test } from 'tap'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { build, collect, sync, line, assistantText, resultLine } from './helper.js'
import { isErrorCode } from '../src/errors.js'

const AGENT = 'fuzz-agent'
const RUNS = Number(process.env.FUZZ_RUNS ?? 400)

/** Strings a careless server trips over; each is URL-encoded where it is used. */
const nasty = fc.oneof(
  fc.integer({ min: -1e15, max: 1e15 }).map(String),
  fc.double().map(String),
  fc.constantFrom(
    '', ' ', '0', '-0', '-1', '1.5', '1e3', '1e309', 'NaN', 'Infinity', '-Infinity', '0x10', '2147483647', '2147483648',
    '9007199254740993', '99999999999999999999', 'latest', 'asc', 'desc', 'ASC', 'output', 'output,tool_use', ',,,',
    'output,nope', 'true', 'null', 'undefined', '[]', '{}', '[object Object]', '__proto__', 'constructor',
    "' OR '1'='1", '1; DROP TABLE conversation_events; --', '"; select * from agents; --', '%', '%%', '\\',
    '../../../etc/passwd', '..\\..\\windows', '/etc/passwd', '\u0000', '\u0000abc', '\r\nX-Injected: 1', '<script>alert(1)</script>',
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'Ω≈ç√∫', '👩‍👩‍👧‍👦', '\u202e', 'ｆｕｌｌ', AGENT, `${AGENT},${AGENT}`, 'a'.repeat(128), 'a'.repeat(129), 'x'.repeat(5000)
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 100, maxLength: 2000 })
)

/** A query parameter: absent, once, or repeated (which Fastify turns into an array). */
const param = fc.oneof(
  { weight: 2, arbitrary: fc.constant<string[]>([]) },
  { weight: 5, arbitrary: nasty.map(v => [v]) },
  { weight: 1, arbitrary: fc.array(nasty, { minLength: 2, maxLength: 3 }) }
)

function query (params: Record<string, string[]>): string {
  const parts: string[] = []
  for (const [key, values] of Object.entries(params)) {
    for (const v of values) parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(v)}`)
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`
}

/** A path segment: an encoded nasty string, or raw percent-sequences that do not decode. */
const segment = fc.oneof(
  { weight: 6, arbitrary: nasty.map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%c3%28', '%ff%fe', '%2e%2e', '..', '.', '%00', '%2F', 'a%2Fb', AGENT) }
)

const extraParams = fc.dictionary(fc.constantFrom('foo', 'token', 'limit[]', 'constructor', '__proto__', 'a.b', ''), param, { maxKeys: 2 })

/** Throws (fast-check then shrinks the input and reports it) unless the answer is a 2xx/3xx, or a 4xx with an error body. */
function check (res: LightMyRequestResponse, what: string): void {
  if (res.statusCode >= 500 || (res.statusCode >= 400 && !isErrorBody(res)) || /\n\s+at |node_modules|\.ts:\d+/.test(res.body)) {
    throw new Error(`${what} → ${res.statusCode} ${res.body.slice(0, 300)}`)
  }
}

function isErrorBody (res: LightMyRequestResponse): boolean {
  try {
    const body = res.json()
    return typeof body.error === 'string' && typeof body.message === 'string' && body.error !== '' && body.message !== '' &&
      isErrorCode(body.code)
  } catch {
    return false
  }
}

/** A live stream answers 200 and stays open: note the status and close it, so its follower goes away. */
async function request (app: FastifyInstance, opts: InjectOptions): Promise<LightMyRequestResponse> {
  const res = await app.inject({ ...opts, payloadAsStream: true })
  const stream = res.stream()
  if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    (res.raw.res as unknown as { destroy: () => void }).destroy()
    stream.destroy()
    return Object.assign(res, { body: '' })
  }
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk))
  const body = Buffer.concat(chunks).toString('utf8')
  return Object.assign(res, { body, json: () => JSON.parse(body) })
}

async function seeded (t: Test, env: Record<string, string> = {}, agentHeaders: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '0', RATE_LIMIT_MAX: '0', ...env } })
  const ws = await app.injectWS(`/ws/${AGENT}`, { headers: agentHeaders })
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  for (let i = 0; i < 30; i++) ws.send(line(assistantText(`event ${i}`)))
  ws.send(line(resultLine(0.5)))
  await sync(app, ws, inbox)
  return app
}

test('GET history, sessions and listings: every query parameter and path segment', async (t) => {
  const app = await seeded(t)
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('events', 'sessions', 'events/stream', 'events/ws'),
    fc.oneof(segment, fc.constant(AGENT)),
    fc.record({ session: param, after: param, before: param, limit: param, type: param, order: param }),
    extraParams,
    async (what, agentId, params, extra) => {
      const url = `/agents/${agentId}/${what}${query({ ...params, ...extra })}`
      check(await request(app, { method: 'GET', url }), `GET ${url}`)
    }
  ), { numRuns: RUNS * 3 })

  await fc.assert(fc.asyncProperty(
    fc.constantFrom('/agents', '/stream', '/stream/ws', '/metrics', '/health/live', '/health/ready'),
    fc.record({ after: param, agents: param, type: param }),
    extraParams,
    fc.option(nasty.map(v => v.replace(/[^\x20-\x7e]/g, '')), { nil: undefined }),
    async (path, params, extra, lastEventId) => {
      const url = `${path}${query({ ...params, ...extra })}`
      const headers = lastEventId === undefined ? {} : { 'last-event-id': lastEventId }
      check(await request(app, { method: 'GET', url, headers }), `GET ${url} ${JSON.stringify(headers)}`)
    }
  ), { numRuns: RUNS })
  t.pass('no 5xx, no stack trace')
})

test('POST prompts and clear-context: bodies, content types and agent ids', async (t) => {
  const app = await seeded(t)
  const body = fc.oneof(
    fc.record({ content: nasty }).map(b => JSON.stringify(b)),
    fc.record({ content: fc.anything() }, { requiredKeys: [] }).map(b => JSON.stringify(b)),
    fc.jsonValue().map(v => JSON.stringify(v)),
    fc.constantFrom('', ' ', '{', '{"content":', 'null', '[]', '"text"', '{"content":"x"}{"content":"y"}', '{"__proto__":{"polluted":1},"content":"x"}',
      '{"constructor":{"prototype":{"polluted":1}},"content":"x"}', `{"content":"${'y'.repeat(100001)}"}`, `{"content":"${'[{'.repeat(5000)}"}`,
      JSON.stringify({ content: 'x', extra: 1 }), '\u0000', '\ufeff{"content":"bom"}'),
    fc.string({ unit: 'binary', maxLength: 200 })
  )
  const contentType = fc.constantFrom(
    'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain',
    'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', '', 'application/json; charset=utf-16'
  )
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('messages', 'clear-context'),
    fc.oneof({ weight: 3, arbitrary: fc.constant(AGENT) }, { weight: 2, arbitrary: segment }),
    fc.option(body, { nil: undefined }),
    contentType,
    extraParams,
    async (what, agentId, payload, type, extra) => {
      const url = `/agents/${agentId}/${what}${query(extra)}`
      const headers: Record<string, string> = type === '' ? {} : { 'content-type': type }
      check(await request(app, { method: 'POST', url, headers, payload }), `POST ${url} ${type} ${String(payload).slice(0, 80)}`)
    }
  ), { numRuns: RUNS * 2 })
  t.equal(({} as any).polluted, undefined, 'no prototype pollution')
  t.pass('no 5xx, no stack trace')
})

test('any method on any path, and oversize bodies', async (t) => {
  const app = await seeded(t)
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
    fc.array(segment, { minLength: 0, maxLength: 5 }),
    async (method, segments) => {
      const url = `/${segments.join('/')}`
      const res = await request(app, { method: method as 'GET', url })
      if (method === 'HEAD') {
        // no body to check
        if (res.statusCode >= 500) throw new Error(`HEAD ${url} → ${res.statusCode}`)
        return
      }
      // OPTIONS without CORS is a 404 like any unknown route
      check(res, `${method} ${url}`)
    }
  ), { numRuns: RUNS })

  const huge = await request(app, { method: 'POST', url: `/agents/${AGENT}/messages`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ content: 'z'.repeat(2 * 1024 * 1024) }) })
  check(huge, 'a 2 MB body')
  t.equal(huge.statusCode, 413)
})

test('with access control on: random tokens and headers are only ever 401/403 or allowed', async (t) => {
  const app = await seeded(t, { AUTH_TOKENS: 'reader:r-fuzz-1,operator:o-fuzz-2,agent:a-fuzz-3' }, { authorization: 'Bearer a-fuzz-3' })
  const auth = fc.oneof(
    fc.constantFrom('Bearer r-fuzz-1', 'Bearer o-fuzz-2', 'Bearer a-fuzz-3', 'bearer r-fuzz-1', 'Bearer', 'Bearer ', 'Basic cjpmdXp6', 'r-fuzz-1',
      'Bearer r-fuzz-1 extra', 'Bearer  o-fuzz-2', 'Bearer r-fuzz-1\u0000'),
    nasty.map(v => `Bearer ${v.replace(/[^\x21-\x7e]/g, '')}`)
  )
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('GET /agents', `GET /agents/${AGENT}/events`, `GET /agents/${AGENT}/sessions`, `POST /agents/${AGENT}/messages`,
      `POST /agents/${AGENT}/clear-context`, 'GET /metrics', 'GET /stream', 'GET /nowhere', 'DELETE /agents'),
    fc.option(auth, { nil: undefined }),
    fc.option(nasty, { nil: undefined }),
    async (route, authorization, queryToken) => {
      const [method, path] = route.split(' ')
      const url = `${path}${queryToken === undefined ? '' : `?token=${encodeURIComponent(queryToken)}`}`
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization }
      const res = await request(app, { method: method as 'GET', url, headers, payload: method === 'POST' ? { content: 'fuzz' } : undefined })
      check(res, `${route} ${JSON.stringify(headers)}`)
      if (res.statusCode >= 400 && /fuzz-\d/.test(res.body)) throw new Error(`${route}: a token echoed in ${res.body}`)
    }
  ), { numRuns: RUNS })
  t.pass('only 2xx, 401, 403 and other 4xx with an error body')
})
