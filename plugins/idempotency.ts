// Idempotency-Key on every operator POST (prompts, clear-context, control commands, approval decisions, imports):
// the same key within 24 hours answers what the first request answered and does nothing again, after a restart
// and on any instance (src/idempotency/). A request answered 5xx did nothing that a retry could double, so its
// key is forgotten; one whose effect is still on its way (a prompt the storage is slow to take) keeps its key
// until that effect settles (request.idempotencySettle).
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import { decide, KEY_TTL_MS, validKey } from '../src/idempotency/decide.js'
import { createIdempotencyStore, type KeyRef } from '../src/idempotency/store.js'
import { Type, type TSchema } from '@sinclair/typebox'
import { httpError, type ErrorCode } from '../src/errors.js'
import { errorResponse } from '../src/schemas/docs.js'
import { requiredRole } from './auth.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Takes an Idempotency-Key (every operator POST does). */
    idempotent?: boolean
  }
  interface FastifyRequest {
    /** The key this request holds, when it carried one and is the first with it. */
    idempotencyKey: KeyRef | null
    /**
     * Set by a handler answering 5xx while its effect may still happen (a queued prompt): the key stays taken and
     * records this answer once it settles, instead of being forgotten.
     */
    idempotencySettle: Promise<{ status: number, body: unknown } | null> | null
  }
}

export const IDEMPOTENCY_HEADER = 'idempotency-key'

const KeyHeader = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[\\x21-\\x7e]+$',
  description: 'Makes the request safe to retry: the same key within 24 hours answers what the first request answered, ' +
    'and does nothing again (a UUID is a good key)'
})
/** How often keys older than 24 hours are deleted. */
const PURGE_EVERY_MS = 60 * 60 * 1000

function fingerprintOf (method: string, url: string, body: unknown, length: string | undefined): string {
  const hash = createHash('sha256').update(`${method} ${url}\n`)
  // a streamed body (imports) is not read here: its URL names the file and position, its length the rest
  if (body === undefined || body === null) hash.update(`length:${length ?? ''}`)
  else if (typeof body === 'string' || Buffer.isBuffer(body)) hash.update(body)
  else if (typeof (body as { pipe?: unknown }).pipe === 'function') hash.update(`stream:${length ?? ''}`)
  else hash.update(JSON.stringify(body))
  return hash.digest('hex')
}

export default fp(async function idempotency (fastify) {
  const store = createIdempotencyStore(fastify.db)
  fastify.decorateRequest('idempotencyKey', null)
  fastify.decorateRequest('idempotencySettle', null)

  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (!methods.includes('POST') || requiredRole('POST', route.url) !== 'operator') return
    route.config = { ...route.config, idempotent: true }
    // documented (and validated) with the route's own schema
    const schema = (route.schema ??= {}) as Record<string, any>
    schema.headers ??= Type.Object({ [IDEMPOTENCY_HEADER]: Type.Optional(KeyHeader) }, { additionalProperties: true })
    const response = (schema.response ??= {}) as Record<string, TSchema | undefined>
    const also = (status: number, description: string, code: ErrorCode): void => {
      const before = response[status]
      if (before === undefined) {
        response[status] = errorResponse(description, [code])
        return
      }
      const combined = `${before.description ?? ''}; ${description}`
      // a plain error answer takes one more code; a richer one (approvals' already_decided with its decision) stays
      // as it is, beside the plain error this plugin answers with
      const plain = Object.keys((before as { properties?: object }).properties ?? {}).sort().join() === 'code,error,message'
      response[status] = plain
        ? errorResponse(combined, [code])
        : Type.Union([before, errorResponse(description, [code])], { description: `${combined} (code: \`${code}\`)` })
    }
    also(409, 'A request with the same Idempotency-Key is being carried out (see Retry-After)', 'request_in_progress')
    also(422, 'The Idempotency-Key was used within 24 hours for another request', 'idempotency_key_reused')
  })

  fastify.addHook('preHandler', async function (request, reply) {
    if (request.routeOptions.config.idempotent !== true) return
    const raw = request.headers[IDEMPOTENCY_HEADER]
    if (raw === undefined) return
    const key = Array.isArray(raw) ? raw[0] : raw
    if (!validKey(key)) throw httpError(400, 'Idempotency-Key: 1 to 255 printable ASCII characters (a UUID is a good one)', 'bad_parameter')
    const ref: KeyRef = { principal: request.principal === null ? '-' : `token:${request.principal.tokenNumber}`, key }
    const fingerprint = fingerprintOf(request.method, request.url, request.body, request.headers['content-length'])
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = new Date()
      let claimed: boolean
      try {
        claimed = await store.claim(ref, fingerprint, now.toISOString())
      } catch (err) {
        // the key cannot be kept: the request is not carried out, so a retry with the key is safe
        request.log.warn({ err }, 'could not record an Idempotency-Key')
        throw httpError(503, `the Idempotency-Key could not be recorded (${(err as Error).message}); nothing was done: retry`, 'unavailable')
      }
      if (claimed) {
        request.idempotencyKey = ref
        return
      }
      const stored = await store.get(ref)
      const decision = decide(stored, fingerprint, now.getTime())
      if (decision.then === 'proceed') {
        if (stored === null) continue
        if (await store.reclaim(ref, stored.createdAt, fingerprint, now.toISOString())) {
          request.idempotencyKey = ref
          return
        }
        continue
      }
      if (decision.then === 'mismatch') {
        throw httpError(422, 'Idempotency-Key was used for another request (another route, agent or body) within 24 hours', 'idempotency_key_reused')
      }
      if (decision.then === 'in_progress') {
        reply.header('retry-after', '1')
        throw httpError(409, 'a request with this Idempotency-Key is being carried out; ask again shortly for its answer', 'request_in_progress')
      }
      const answer = stored as NonNullable<typeof stored>
      reply.code(answer.status as number).header('idempotent-replayed', 'true')
      if (answer.contentType !== null) reply.header('content-type', answer.contentType)
      return await reply.send(answer.body)
    }
    throw httpError(409, 'a request with this Idempotency-Key is being carried out; ask again shortly for its answer', 'request_in_progress')
  })

  fastify.addHook('onSend', async function (request, reply, payload) {
    const ref = request.idempotencyKey
    if (ref === null) return payload
    request.idempotencyKey = null
    const contentType = String(reply.getHeader('content-type') ?? '') || null
    if (reply.statusCode < 500) {
      const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : JSON.stringify(payload ?? null)
      await store.complete(ref, reply.statusCode, contentType, body)
      return payload
    }
    const settle = request.idempotencySettle
    if (settle === null) {
      // nothing was done: the same key may carry the request again
      await store.release(ref)
      return payload
    }
    // the effect is still on its way: the key is answered once it settles
    settle.then(async (final) => {
      if (final === null) await store.release(ref)
      else await store.complete(ref, final.status, 'application/json; charset=utf-8', JSON.stringify(final.body))
    }, async () => { await store.release(ref) }).catch((err: unknown) => {
      fastify.log.warn({ err }, 'could not record the final answer of an idempotent request')
    })
    return payload
  })

  const purge = setInterval(() => {
    store.purge(new Date(Date.now() - KEY_TTL_MS).toISOString())
      .catch((err: unknown) => fastify.log.warn({ err }, 'could not delete expired idempotency keys'))
  }, PURGE_EVERY_MS)
  purge.unref()
  fastify.addHook('onClose', async () => { clearInterval(purge) })
}, { name: 'idempotency', dependencies: ['db', 'auth'] })
