// Strict input on every route: unknown, repeated, empty or malformed query parameters are a 400 naming the
// parameter (stream sockets refuse before the upgrade); bodies are never coerced; poisoning keys are refused.
import { test } from 'tap'
import fc from 'fast-check'
import type { ErrorObject } from 'ajv'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { build } from './helper.js'
import { lazyValidator } from '../plugins/validation.js'
import { isErrorCode } from '../src/errors.js'
import { checkQuery, queryRules } from '../src/strict-input.js'
import { HistoryQuery } from '../src/schemas/events.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 100)

interface Route { method: string, url: string, websocket: boolean, query: Record<string, any> }

/** Every documented route, with its query parameters' schemas (from the document). */
async function routes (app: FastifyInstance): Promise<Route[]> {
  const doc = (await app.inject('/openapi.json')).json()
  return app.routeList.filter(r => !r.hidden && r.url !== '/ws/:agentId').map(r => {
    const op = doc.paths[r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')][r.method.toLowerCase()]
    const query = Object.fromEntries((op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => [p.name, p.schema]))
    return { method: r.method, url: r.url, websocket: r.websocket, query }
  })
}

function request (route: Route, query: string): InjectOptions {
  const url = route.url.replace(/:([A-Za-z0-9_]+)/g, 'agent-1') + (query === '' ? '' : `?${query}`)
  // a socket route is asked for an upgrade, so the answer is the one given before the upgrade
  const headers: Record<string, string> = route.websocket
    ? { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' }
    : {}
  return { method: route.method as 'GET', url, headers }
}

test('a query parameter a route does not take is a 400 naming it, on every route', async (t) => {
  const app = await build(t)
  const all = await routes(app)
  t.ok(all.length >= 14)
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...all),
    fc.stringMatching(/^[a-z_]{1,12}$/),
    async (route, name) => {
      fc.pre(!(name in route.query) && name !== 'token')
      const res = await app.inject(request(route, `${name}=1`))
      if (res.statusCode !== 400) throw new Error(`${route.method} ${route.url}?${name}=1 → ${res.statusCode} ${res.body.slice(0, 200)}`)
      const body = res.json()
      if (body.code !== 'unknown_parameter' || !body.message.includes(JSON.stringify(name))) throw new Error(`${route.url}: ${res.body}`)
    }
  ), { numRuns: RUNS })
  const typo = await app.inject('/agents/agent-1/events?sesion=3')
  t.equal(typo.statusCode, 400)
  t.match(typo.json(), { code: 'unknown_parameter', message: /"sesion" \(did you mean "session"\?\)/ })
})

test('a declared parameter given twice, empty, or of the wrong form is a 400 naming it and its form', async (t) => {
  const app = await build(t)
  const all = (await routes(app)).filter(r => Object.keys(r.query).length > 0)
  t.ok(all.some(r => r.websocket), 'stream sockets included')
  const cases = all.flatMap(r => Object.entries(r.query).map(([name, schema]) => ({ route: r, name, schema })))
  const numberish = fc.oneof(
    fc.constantFrom('', '1e3', '1.5', '-1', 'Infinity', '-Infinity', 'NaN', '0x10', ' 1', '1 ', '99999999999999999999', '2147483648', '+1', '١'),
    fc.double({ noInteger: true }).map(String)
  )
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...cases),
    fc.oneof(
      fc.constant({ kind: 'twice' as const, value: '' }),
      fc.constant({ kind: 'empty' as const, value: '' }),
      numberish.map(value => ({ kind: 'number' as const, value }))
    ),
    async ({ route, name, schema }, mutation) => {
      const isInteger = schema.type === 'integer'
      fc.pre(mutation.kind !== 'number' || isInteger)
      const query = mutation.kind === 'twice'
        ? `${name}=1&${name}=2`
        : `${name}=${encodeURIComponent(mutation.value)}`
      // a plain integer in the parameter's range is fine
      fc.pre(!(mutation.kind === 'number' && /^-?(0|[1-9][0-9]*)$/.test(mutation.value) && Number.isSafeInteger(Number(mutation.value)) &&
        Number(mutation.value) >= (schema.minimum ?? -Infinity) && Number(mutation.value) <= (schema.maximum ?? Infinity)))
      const res = await app.inject(request(route, query))
      const body = res.statusCode === 400 ? res.json() : null
      if (body === null || body.code !== 'bad_parameter' || !body.message.includes(`"${name}"`)) {
        throw new Error(`${route.method} ${route.url}?${query} → ${res.statusCode} ${res.body.slice(0, 300)}`)
      }
    }
  ), { numRuns: RUNS * 2 })
})

test('random query strings on every route: never a 5xx, every error a JSON body with a listed code', async (t) => {
  const app = await build(t)
  // sockets are covered above: an upgrade that passes its checks cannot complete over inject
  const all = (await routes(app)).filter(r => !r.websocket)
  const value = fc.oneof(fc.string(), fc.constantFrom('latest', '0', '1', 'output', 'asc', '%', '%zz', '__proto__', 'a'.repeat(2000)))
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...all),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom('after', 'before', 'limit', 'session', 'type', 'order', 'agents', 'q', 'token', '__proto__', 'constructor'), fc.string({ maxLength: 8 })), value), { maxLength: 4 }),
    async (route, pairs) => {
      const query = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
      const opts = request(route, query)
      if (route.method === 'POST') Object.assign(opts, { headers: { ...opts.headers, 'content-type': 'application/json' }, payload: '{}' })
      const res = await app.inject({ ...opts, payloadAsStream: true })
      const type = String(res.headers['content-type'] ?? '')
      if (type.startsWith('text/event-stream')) { (res.raw.res as unknown as { destroy: () => void }).destroy(); return }
      const chunks: Buffer[] = []
      for await (const chunk of res.stream()) chunks.push(Buffer.from(chunk))
      const text = Buffer.concat(chunks).toString('utf8')
      // readiness answers 503 with its state while this loaded machine's event loop lags: that is its job
      if (route.url === '/health/ready' && res.statusCode === 503) return
      if (res.statusCode >= 500) throw new Error(`${opts.url} → ${res.statusCode} ${text.slice(0, 200)}`)
      if (res.statusCode >= 400) {
        const body = JSON.parse(text)
        if (!isErrorCode(body.code) || typeof body.message !== 'string' || typeof body.error !== 'string') throw new Error(`${opts.url}: ${text.slice(0, 200)}`)
      }
    }
  ), { numRuns: RUNS * 2 })
  t.pass('no 5xx; every error has a listed code')
})

test('bodies: no coercion, no unknown properties, no poisoning keys, each with its code', async (t) => {
  const app = await build(t)
  const post = (payload: string) => app.inject({ method: 'POST', url: '/agents/agent-1/messages', headers: { 'content-type': 'application/json' }, payload })
  const cases: Array<[string, string, RegExp]> = [
    ['{"content":42}', 'bad_parameter', /body property "content" must be a string .*got number/],
    ['{"content":["x"]}', 'bad_parameter', /got a list/],
    ['{"content":"x","extra":1}', 'unknown_parameter', /unknown body property "extra"/],
    ['{"contnet":"x"}', 'unknown_parameter', /"contnet" \(did you mean "content"\?\)/],
    ['{"__proto__":{"polluted":1},"content":"x"}', 'forbidden_key', /__proto__/],
    ['{"constructor":{"prototype":{"polluted":1}},"content":"x"}', 'forbidden_key', /constructor\.prototype/],
    ['{"content":', 'invalid_json', /not valid JSON/]
  ]
  for (const [payload, code, message] of cases) {
    const res = await post(payload)
    t.equal(res.statusCode, 400, payload)
    t.match(res.json(), { error: 'Bad Request', code, message }, payload)
  }
  t.equal(({} as any).polluted, undefined, 'no prototype pollution')
  const clear = await app.inject({ method: 'POST', url: '/agents/agent-1/clear-context', headers: { 'content-type': 'application/json' }, payload: '{"force":true}' })
  t.match(clear.json(), { code: 'unknown_parameter', message: /"force"/ }, 'a command without options takes none')
})

test('checkQuery (unit): the first problem, in words', async (t) => {
  const rules = queryRules(HistoryQuery, [])
  t.equal(checkQuery(rules, ''), null)
  t.equal(checkQuery(rules, 'limit=10&after=5&order=desc&type=output'), null)
  t.match(checkQuery(rules, 'limit=0'), { code: 'bad_parameter', message: 'query parameter "limit" is 0, out of range; expected an integer from 1 to 1000' })
  t.match(checkQuery(rules, 'limit=abc'), { message: /"limit" is "abc"/ })
  t.match(checkQuery(rules, 'order=ASC'), { message: /expected one of asc, desc/ })
  t.match(checkQuery(rules, 'after=1&after=1'), { message: /given 2 times/ })
  t.match(checkQuery(rules, 'Limit=5'), { code: 'unknown_parameter', message: /did you mean "limit"/ })
  t.equal(checkQuery(queryRules(undefined, ['token']), 'token=x'), null, 'a name taken besides the schema')
  t.match(checkQuery(queryRules(undefined), 'x=1'), { message: /this route takes no query parameters/ })
})

test('validators are compiled on first use, once, and report the errors of their last call', async (t) => {
  let compiles = 0
  const validate = lazyValidator(() => {
    compiles++
    const check = (data: unknown): boolean => {
      const ok = typeof data === 'number'
      check.errors = ok ? null : [{ keyword: 'type', instancePath: '', schemaPath: '#/type', params: { type: 'number' }, message: 'must be number' }]
      return ok
    }
    check.errors = null as ErrorObject[] | null
    return check
  })
  t.equal(compiles, 0, 'nothing compiled before the first request')
  t.equal(validate('x'), false)
  t.match(validate.errors, [{ message: 'must be number' }])
  t.equal(validate(1), true)
  t.equal(validate.errors, null, 'a passing call clears the errors')
  t.equal(compiles, 1, 'compiled once')
})
