// The whole application as one Fastify plugin: plugins first, then routes. Only server.ts listens.
import { STATUS_CODES } from 'node:http'
import type { FastifyInstance, FastifyError } from 'fastify'
import websocket from '@fastify/websocket'
import type { Config } from './config.js'
import configPlugin from '../plugins/config.js'
import dbPlugin from '../plugins/db.js'
import eventStorePlugin from '../plugins/event-store.js'
import agentHubPlugin, { CloseCodes } from '../plugins/agent-hub.js'
import historyPlugin from '../plugins/history.js'
import wsRoutes from '../routes/ws.js'
import agentRoutes from '../routes/agents/index.js'
import healthRoutes from '../routes/health.js'

export interface AppOptions {
  config: Config
}

export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(configPlugin, { config: opts.config })

  // an empty body with a JSON content type (curl -X POST -H 'content-type: application/json') means "no body"
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (request, body, done) => {
    const text = body as string
    if (text.trim() === '') { done(null, undefined); return }
    try {
      done(null, JSON.parse(text))
    } catch {
      done(Object.assign(new Error('body is not valid JSON'), { statusCode: 400 }), undefined)
    }
  })

  fastify.setErrorHandler(function (error: FastifyError, request, reply) {
    if (error.validation !== undefined) {
      // Fastify's message already names the parameter, e.g. "querystring/limit must be <= 1000"
      reply.code(400).send({ error: 'Bad Request', message: error.message })
      return
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      reply.code(status).send({ error: STATUS_CODES[status] ?? 'Internal Server Error', message: 'internal error; see the server log' })
      return
    }
    reply.code(status).send({ error: STATUS_CODES[status] ?? 'Error', message: error.message })
  })

  fastify.setNotFoundHandler(function (request, reply) {
    reply.code(404).send({ error: 'Not Found', message: `no route for ${request.method} ${request.url.split('?')[0]}` })
  })

  await fastify.register(dbPlugin)
  await fastify.register(agentHubPlugin)
  await fastify.register(eventStorePlugin)
  await fastify.register(historyPlugin)

  await fastify.register(websocket, {
    options: { maxPayload: opts.config.maxFrameBytes },
    // agents are told to come back later (1001) and given a moment to finish; their last lines are still stored
    preClose: async function () {
      await fastify.agents.closeAll(CloseCodes.GOING_AWAY, 'server shutting down')
      for (const client of fastify.websocketServer.clients) client.close(CloseCodes.GOING_AWAY, 'server shutting down')
      await new Promise<void>((resolve) => fastify.websocketServer.close(() => resolve()))
    }
  })

  await fastify.register(healthRoutes)
  await fastify.register(wsRoutes)
  await fastify.register(agentRoutes)
}
