// Strict input for every route: the JSON body parser (no prototype-poisoning keys), validators that never coerce a
// body nor drop unknown properties, and a query-string check before validation (unknown, repeated, empty or
// malformed parameters are a 400 naming the parameter and its form), which also runs before any WebSocket upgrade.
import fp from 'fastify-plugin'
import { Ajv, type ErrorObject, type Options } from 'ajv'
import addFormats from 'ajv-formats'
import { parse as parseJson } from 'secure-json-parse'
import type { FastifyRequest } from 'fastify'
import { OptionalKind } from '@sinclair/typebox'
import { checkQuery, queryRules, type QueryRules } from '../src/strict-input.js'
import { httpError } from '../src/errors.js'
import { AGENT_SOCKET_ROUTE, takesQueryToken } from './auth.js'

/** The largest JSON body a route takes, unless it says otherwise. */
export const BODY_LIMIT = 1024 * 1024

function ajv (options: Options): Ajv {
  const instance = new Ajv({
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    // the failing value and its schema, so the error message can name the accepted form
    verbose: true,
    // TypeBox adds keywords of its own; shared $ids (ErrorBody) appear in many route schemas
    strict: false,
    addUsedSchema: false,
    ...options
  })
  addFormats.default(instance)
  return instance
}

interface Validator {
  (data: unknown): boolean
  errors?: ErrorObject[] | null
}

/** A validator compiled when it is first called; its errors are those of its last call, as Ajv's. */
export function lazyValidator (compile: () => Validator): Validator {
  let compiled: Validator | undefined
  const validate: Validator = (data) => {
    compiled ??= compile()
    const ok = compiled(data)
    validate.errors = compiled.errors
    return ok
  }
  validate.errors = null
  return validate
}

/** A body schema marked Type.Optional(): the route also takes no body at all. */
export function isOptional (schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && (schema as Record<symbol, unknown>)[OptionalKind] === 'Optional'
}

export default fp(async function validation (fastify) {
  // a body is taken as it is: {"content": 42} is not a string
  // every error, so that an unknown property (a typo) is reported before the required one it stands for
  const bodies = ajv({ coerceTypes: false, allErrors: true })
  // path, query and header values are text; they become numbers only after checkQuery accepted their form
  const texts = ajv({ coerceTypes: true })
  // compiled on a route's first request, not at start-up (compiling every route's schemas took ~0.3 s of it)
  fastify.setValidatorCompiler(({ schema, httpPart }) => lazyValidator(() => {
    if (httpPart !== 'body') return texts.compile(schema)
    const validate = bodies.compile(schema)
    // Type.Optional(body): a request without one (or with an empty JSON body) is as good as no options
    if (!isOptional(schema)) return validate
    const optional = (data: unknown): boolean => {
      if (data === undefined || data === null) return true
      const ok = validate(data)
      optional.errors = validate.errors
      return ok
    }
    optional.errors = null as typeof validate.errors
    return optional
  }))

  // Fastify's own JSON parsing (secure-json-parse, poisoning keys an error), except that an empty body with a JSON
  // content type (curl -X POST -H 'content-type: application/json') means "no body", and each failure has its code
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (request, body, done) => {
    const text = body as string
    if (text.trim() === '') { done(null, undefined); return }
    try {
      done(null, parseJson(text, { protoAction: 'error', constructorAction: 'error' }))
    } catch (err) {
      done(/forbidden prototype property/.test((err as Error).message)
        ? httpError(400, 'body: "__proto__" and "constructor.prototype" keys are not allowed', 'forbidden_key')
        : httpError(400, `body is not valid JSON: ${(err as Error).message}`, 'invalid_json'), undefined)
    }
  })

  const rulesByRoute = new Map<string, QueryRules | null>()
  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    // the agent socket keeps what Claude Code has always been able to send; hidden routes are static files
    const exempt = route.url === AGENT_SOCKET_ROUTE || (route.websocket !== true && (route.schema as { hide?: boolean } | undefined)?.hide === true)
    const rules = exempt
      ? null
      : queryRules(route.schema?.querystring as Record<string, any> | undefined, takesQueryToken(route.url, route.websocket === true) ? ['token'] : [])
    for (const method of methods) rulesByRoute.set(`${method} ${route.url}`, rules)
  })

  fastify.addHook('preValidation', async function (request: FastifyRequest) {
    const rules = rulesByRoute.get(`${request.method} ${request.routeOptions.url ?? ''}`)
    if (rules === undefined || rules === null) return
    const url = request.raw.url ?? ''
    const q = url.indexOf('?')
    if (q === -1) return
    const problem = checkQuery(rules, url.slice(q + 1).split('#')[0])
    if (problem !== null) throw problem
  })
}, { name: 'validation' })
