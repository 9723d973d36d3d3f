// The one error handler: every error answer is `{ error, message, code }` with a code from src/errors.ts;
// the message of a fault in the server (5xx) is logged, never sent.
import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { defaultCode, errorBody, httpError, isErrorCode, type ErrorCode } from '../src/errors.js'
import { validationError } from '../src/strict-input.js'
import { BODY_LIMIT } from './validation.js'

/** Fastify's own errors, by their FST_ code, with the code and message a client gets. */
const FASTIFY_ERRORS: Record<string, { code: ErrorCode, message?: (error: FastifyError) => string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', message: () => `the body is larger than ${BODY_LIMIT} bytes` },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', message: (e) => `${e.message}; send application/json` },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'bad_request' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json' }
}

export default fp(async function errors (fastify) {
  fastify.setErrorHandler(function (error: FastifyError, request, reply) {
    if (error.validation !== undefined) {
      const e = validationError(error.validation, error.validationContext ?? 'request')
      reply.code(400).send({ error: 'Bad Request', message: e.message, code: e.code })
      return
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500 && (!isErrorCode(error.code) || error.code === 'internal')) {
      request.log.error({ err: error }, 'request failed')
      reply.code(status).send({ error: STATUS_CODES[status] ?? 'Internal Server Error', message: 'internal error; see the server log', code: defaultCode(status) })
      return
    }
    const known = FASTIFY_ERRORS[error.code]
    // a snake_case code set on an error by hand is passed on (the contract test checks that it is listed)
    const code = isErrorCode(error.code) || /^[a-z][a-z_]*$/.test(error.code ?? '') ? error.code : known?.code ?? defaultCode(status)
    // a 5xx with a code of ours (shutting_down) was thrown on purpose, and its message is meant for the client
    const message = known?.message?.(error) ?? error.message
    reply.code(status).send(errorBody({ statusCode: status, message, code }))
  })

  // instead of Fastify's own 503 (return503OnClosing, off in serverOptions), whose body has no code
  let closing = false
  fastify.addHook('preClose', async () => { closing = true })
  fastify.addHook('onRequest', async (request) => {
    if (closing && request.routeOptions.url?.startsWith('/health/') !== true) throw httpError(503, 'the server is shutting down', 'shutting_down')
  })

  fastify.setNotFoundHandler(function (request, reply) {
    reply.code(404).send({ error: 'Not Found', message: `no route for ${request.method} ${request.url.split('?')[0]}`, code: 'route_not_found' })
  })
}, { name: 'errors' })
