// The API document: a valid OpenAPI 3.1 document that covers every route, with the shared answers, the error
// codes and the streams' messages; the /docs page; who may read them.
import { readFileSync } from 'node:fs'
import { test } from 'tap'
import { Validator } from '@seriousme/openapi-schema-validator'
import { parse as parseYaml } from 'yaml'
import { build } from './helper.js'
import { ERROR_CODES } from '../src/errors.js'
import { openapiPath } from '../plugins/openapi.js'

/** `{ error, message, code }`, alone or with more (allOf). */
function isErrorSchema (schema: any): boolean {
  if (schema === null || typeof schema !== 'object') return false
  if (['error', 'message', 'code'].every(k => schema.required?.includes(k) === true && schema.properties?.[k]?.type === 'string')) return true
  if (Array.isArray(schema.anyOf)) return schema.anyOf.length > 0 && schema.anyOf.every(isErrorSchema)
  return Array.isArray(schema.allOf) && schema.allOf.some(isErrorSchema)
}

const READER = 'r-docs-1'
const AGENT = 'a-docs-2'

test('/openapi.json is a valid OpenAPI 3.1 document, and /openapi.yaml is the same document', async (t) => {
  const app = await build(t)
  const res = await app.inject('/openapi.json')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const doc = res.json()
  t.equal(doc.openapi, '3.1.0')
  const validator = new Validator()
  const result = await validator.validate(doc)
  t.same(result.errors ?? [], [], 'no validation errors')
  t.equal(result.valid, true, 'valid for the OpenAPI 3.1 schema')

  const yaml = await app.inject('/openapi.yaml')
  t.equal(yaml.statusCode, 200)
  t.match(yaml.headers['content-type'], /^application\/yaml/)
  t.same(parseYaml(yaml.body), doc)
})

test('every registered route is in the document, with a summary, a description, tags, its parameters and described answers', async (t) => {
  const app = await build(t)
  const doc = (await app.inject('/openapi.json')).json()
  const routes = app.routeList.filter(r => !r.hidden)
  t.ok(routes.length >= 14, `${routes.length} routes`)
  const tags = new Set((doc.tags as Array<{ name: string }>).map(x => x.name))
  for (const route of routes) {
    const name = `${route.method} ${route.url}`
    const op = doc.paths[openapiPath(route.url)]?.[route.method.toLowerCase()]
    if (op === undefined) { t.fail(`${name} is not in the document`); continue }
    t.ok(typeof op.summary === 'string' && op.summary.length > 0, `${name}: summary`)
    t.ok(typeof op.description === 'string' && op.description.length > op.summary.length, `${name}: a description longer than its summary`)
    t.ok(Array.isArray(op.tags) && op.tags.length > 0 && op.tags.every((x: string) => tags.has(x)), `${name}: tags, each declared`)
    t.ok(Array.isArray(op.security), `${name}: security stated`)
    const pathParams = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map(m => m[1])
    for (const p of pathParams) {
      t.ok(op.parameters?.some((x: any) => x.in === 'path' && x.name === p && x.required === true), `${name}: path parameter ${p}`)
    }
    const statuses = Object.keys(op.responses)
    t.ok(statuses.some(s => /^(2\d\d|101)$/.test(s)), `${name}: a success answer`)
    for (const [status, response] of Object.entries(op.responses as Record<string, any>)) {
      t.ok(typeof response.description === 'string' && response.description !== 'Default Response', `${name} ${status}: described`)
      const media = Object.values(response.content ?? {}) as any[]
      t.ok(media.length > 0 && media.every(m => m.schema !== undefined), `${name} ${status}: a body schema`)
      // readiness answers 503 with its own state, for load balancers
      if (Number(status) >= 400 && !(route.url === '/health/ready' && status === '503')) {
        t.ok(isErrorSchema(media[0]?.schema), `${name} ${status}: an error body`)
      }
    }
    if (route.url !== '/ws/:agentId') t.ok(op.responses['400'] !== undefined, `${name}: 400 for bad input`)
    t.ok(op.responses['500'] !== undefined, `${name}: 500`)
  }
  t.ok(doc.paths['/health/live'].get.responses['401'] === undefined, 'no 401 where no token is ever needed')
  t.same(doc.paths['/health/live'].get.security, [])
  t.same(doc.paths['/agents'].get.security, [{ bearer: [] }])
  t.same(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.bearer.description })
  t.ok(doc.paths['/agents/{agentId}/messages'].post.responses['429'] !== undefined, 'operator routes: 429')
  t.equal(doc.paths['/agents/{agentId}/clear-context'].post.requestBody.required, false, 'an optional body is documented as optional')
  t.equal(doc.paths['/agents/{agentId}/events'].get.parameters.find((p: any) => p.name === 'limit').required, false, 'a parameter with a default is optional')
})

test('the error codes are listed in the document and in docs/api.md', async (t) => {
  const app = await build(t)
  const doc = (await app.inject('/openapi.json')).json()
  const readme = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8')
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    t.ok(doc.info.description.includes(`| \`${code}\` | ${status} |`), `${code}: in the document`)
    t.ok(readme.includes(`| \`${code}\` | ${status} |`), `${code}: in docs/api.md`)
  }
  t.match(doc.paths['/agents/{agentId}/events'].get.responses['404'].description, /agent_not_found/)
  t.match(doc.paths['/agents/{agentId}/events'].get.responses['400'].description, /bad_parameter.*unknown_parameter/)
})

test('streams: SSE as text/event-stream with event names and data schemas; WebSockets with their messages', async (t) => {
  const app = await build(t)
  const doc = (await app.inject('/openapi.json')).json()
  const sse = doc.paths['/agents/{agentId}/events/stream'].get.responses['200'].content['text/event-stream'].schema
  const kinds = sse.items.anyOf
  const names = (k: any): string[] => k.properties.event.enum ?? k.properties.event.anyOf?.flatMap((e: any) => e.enum ?? [e.const]) ?? [k.properties.event.const]
  t.ok(names(kinds[0]).includes('output') && names(kinds[0]).includes('tool_use'), 'event messages name the event types')
  t.same(kinds[0].properties.data.required, ['id', 'agent_id', 'session_number', 'seq', 'event_type', 'content', 'metadata', 'created_at'], 'event data is the stored event')
  t.same(kinds.slice(1).map((k: any) => names(k)[0]), ['truncated', 'caught_up', 'shutdown'])
  const global = doc.paths['/stream'].get.responses['200'].content['text/event-stream'].schema.items.anyOf
  t.same(global.slice(1).map((k: any) => names(k)[0]), ['agent', 'caught_up', 'shutdown'])
  for (const path of ['/agents/{agentId}/events/ws', '/stream/ws', '/ws/{agentId}']) {
    const op = doc.paths[path].get
    t.ok(op.responses['101'] !== undefined, `${path}: 101 Switching Protocols`)
    t.ok(Object.values(op.responses['101'].content)[0] !== undefined, `${path}: the server's messages`)
    t.ok(op.responses['426'] !== undefined, `${path}: 426 for a plain GET`)
  }
  t.ok(doc.paths['/ws/{agentId}'].get['x-client-messages'] !== undefined, 'the agent socket: what the agent sends')
})

test('/docs: the page and its scripts come from the package, readable without a token when access control is off', async (t) => {
  const app = await build(t)
  const page = await app.inject('/docs')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  const scripts = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map(m => m[1])
  t.ok(scripts.length >= 3, 'scripts and styles')
  for (const src of scripts) {
    t.notMatch(src, /^https?:/, `${src}: served by the server itself, no CDN`)
    const asset = await app.inject(src.startsWith('/') ? src : `/docs/${src}`)
    t.equal(asset.statusCode, 200, src)
  }
  const spec = await app.inject('/docs/json')
  t.equal(spec.statusCode, 200)
  t.equal(spec.json().openapi, '3.1.0')
})

test('with access control on, any valid token reads the document and the page; no token does not', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: `reader:${READER},agent:${AGENT}:build-*` } })
  for (const url of ['/openapi.json', '/openapi.yaml', '/docs', '/docs/json']) {
    const none = await app.inject(url)
    t.equal(none.statusCode, 401, `${url} without a token`)
    t.match(none.json(), { error: 'Unauthorized', code: 'unauthorized' })
    t.equal((await app.inject({ url, headers: { authorization: 'Bearer nope' } })).statusCode, 401, `${url} with an unknown token`)
    t.equal((await app.inject({ url, headers: { authorization: `Bearer ${READER}` } })).statusCode, 200, `${url} with a reader token`)
    t.equal((await app.inject({ url, headers: { authorization: `Bearer ${AGENT}` } })).statusCode, 200, `${url} with an agent token`)
  }
  t.equal((await app.inject(`/docs?token=${AGENT}`)).statusCode, 200, 'a browser passes ?token= to the page')
  t.equal((await app.inject('/agents')).statusCode, 401, 'the rest still needs its role')
  t.equal((await app.inject({ url: '/agents', headers: { authorization: `Bearer ${AGENT}` } })).statusCode, 403)
  const init = await app.inject('/docs/static/swagger-initializer.js')
  t.equal(init.statusCode, 200, 'the page\'s scripts need no token (they are the package\'s files)')
  t.match(init.body, /Bearer/, 'the page sends its ?token= as a bearer token')
})
