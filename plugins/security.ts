// HTTP hardening: security headers (helmet), CORS for browser UIs (only when CORS_ORIGINS is set), a rate limit
// on operator routes (prompts and clear-context), per token or per address when access control is off, and a
// proper error for plain requests to socket routes.
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import { requiredRole } from './auth.js'
import { httpError } from '../src/errors.js'

export default fp(async function security (fastify) {
  const { config } = fastify

  await fastify.register(helmet, { global: true })

  // @fastify/websocket answers a plain GET on a socket route with an empty 404; say what the route wants instead
  const socketRoutes = new Set<string>()
  fastify.addHook('onRoute', (route) => {
    if (route.websocket === true) socketRoutes.add(route.url)
  })
  fastify.addHook('onRequest', async function (request, reply) {
    const url = request.routeOptions.url
    if (url === undefined || !socketRoutes.has(url) || request.method !== 'GET') return
    if ((request.headers.upgrade ?? '').toLowerCase() === 'websocket') return
    reply.header('upgrade', 'websocket')
    throw httpError(426, `GET ${url} only takes WebSocket upgrades`)
  })

  if (config.corsOrigins !== null) {
    await fastify.register(cors, {
      origin: config.corsOrigins.includes('*') ? '*' : config.corsOrigins,
      // every method a route answers (DELETE: remembered rules); test/auth.test.ts holds it to the routes
      methods: ['GET', 'HEAD', 'POST', 'DELETE'],
      // last-event-id: a UI resuming a stream by hand (EventSource sends it by itself)
      allowedHeaders: ['authorization', 'content-type', 'last-event-id'],
      exposedHeaders: ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
      maxAge: 600
    })
  }

  if (config.rateLimitMax > 0) {
    // before @fastify/rate-limit's own onRoute hook runs: it limits exactly the routes that carry this config
    fastify.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      if (methods.some(m => requiredRole(m, route.url) === 'operator')) {
        route.config = { ...route.config, rateLimit: {} }
      }
    })
    await fastify.register(rateLimit, {
      global: false,
      max: config.rateLimitMax,
      timeWindow: config.rateLimitWindowMs,
      keyGenerator: (request) => request.principal === null ? `ip:${request.ip}` : `token:${request.principal.tokenNumber}`,
      errorResponseBuilder: (request, context) => httpError(429,
        `rate limit: at most ${context.max} operator requests per ${Math.round(config.rateLimitWindowMs / 1000)} s; retry in ${context.after}`)
    })
  }
}, { name: 'security', dependencies: ['config', 'auth'] })
