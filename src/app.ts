// The whole application as one Fastify plugin: plugins first, then routes. Only server.ts listens.
import { STATUS_CODES, type Server } from 'node:http'
import type { FastifyInstance, FastifyHttpOptions, FastifyReply } from 'fastify'
import websocket from '@fastify/websocket'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { Config } from './config.js'
import type { WriterSeams } from './store/sqlite-writer/protocol.js'
import { CloseCodes } from './protocol/close-codes.js'
import configPlugin from '../plugins/config.js'
import dbPlugin from '../plugins/db.js'
import clusterPlugin from '../plugins/cluster.js'
import eventStorePlugin from '../plugins/event-store.js'
import agentHubPlugin from '../plugins/agent-hub.js'
import agentControlPlugin from '../plugins/agent-control.js'
import historyPlugin from '../plugins/history.js'
import searchPlugin from '../plugins/search.js'
import liveHubPlugin from '../plugins/live-hub.js'
import authPlugin, { requestSerializer } from '../plugins/auth.js'
import securityPlugin from '../plugins/security.js'
import metricsPlugin from '../plugins/metrics.js'
import approvalsPlugin from '../plugins/approvals.js'
import approvalRoutes from '../routes/approvals.js'
import setAsideRoutes from '../routes/set-aside.js'
import usageRoutes from '../routes/usage.js'
import usagePlugin from '../plugins/usage.js'
import transcriptsPlugin from '../plugins/transcripts.js'
import metricsRoutes from '../routes/metrics.js'
import wsRoutes from '../routes/ws.js'
import agentRoutes from '../routes/agents/index.js'
import transcriptRoutes from '../routes/agents/transcripts.js'
import agentControlRoutes from '../routes/agents/control.js'
import healthRoutes from '../routes/health.js'
import streamRoutes from '../routes/stream.js'
import searchRoutes from '../routes/search.js'
import whoamiRoutes from '../routes/whoami.js'
import viewerRoutes from '../routes/viewer.js'
import mcpRoutes from '../routes/mcp.js'
import errorsPlugin from '../plugins/errors.js'
import validationPlugin from '../plugins/validation.js'
import openapiPlugin from '../plugins/openapi.js'
import idempotencyPlugin from '../plugins/idempotency.js'
import fleetPlugin from '../plugins/fleet.js'
import runnerRoutes from '../routes/runners.js'
import agentRunRoutes from '../routes/agents/runs.js'

export interface AppOptions {
  config: Config
  /** Tests and benchmarks: seams of the engines (never part of the configuration). */
  seams?: { writer?: WriterSeams }
}

/**
 * The Fastify instance's own options (server.ts builds it with these): the logger, the router, and the HTTP
 * timeouts that cut off slow or silent clients. Upgraded sockets are not affected by them.
 */
export function serverOptions (config: Config): FastifyHttpOptions<Server> {
  return {
    // ?token= (browsers' sockets and event streams) never reaches the log
    logger: { level: config.logLevel, serializers: { req: requestSerializer } },
    requestTimeout: config.httpRequestTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    connectionTimeout: config.httpConnectionTimeoutMs,
    // Node checks requestTimeout only this often (30 s by default), so a short timeout needs a shorter check
    http: config.httpRequestTimeoutMs > 0
      ? { connectionsCheckingInterval: Math.min(30000, Math.max(100, Math.floor(config.httpRequestTimeoutMs / 4))) }
      : {},
    forceCloseConnections: 'idle',
    // plugins/errors.ts answers requests that come in while closing, with the shutting_down error body
    return503OnClosing: false,
    // the router's own refusals (a path that does not decode, a parameter over maxParamLength) get an error body too
    frameworkErrors: function (error, request, reply) {
      const tooLong = error.statusCode === 414
      const body = { error: STATUS_CODES[tooLong ? 414 : 400], message: error.message, code: tooLong ? 'uri_too_long' : 'bad_request' }
      ;(reply as FastifyReply).code(tooLong ? 414 : 400).send(body)
    },
    // agent ids may be 128 characters; the router's default limit (100) would answer 414 to the longer ones
    routerOptions: { maxParamLength: 256 },
    // response serializers are compiled on a route's first answer, not at start-up (~0.15 s of it for every route)
    schemaController: {
      compilersFactory: {
        buildSerializer (externalSchemas, options) {
          const build = SerializerSelector()(externalSchemas, options)
          return (route) => {
            let serialize: ((data: unknown) => string) | undefined
            return (data) => (serialize ??= build(route))(data)
          }
        }
      }
    }
  }
}

export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(configPlugin, { config: opts.config })

  await fastify.register(errorsPlugin)
  await fastify.register(validationPlugin)

  await fastify.register(dbPlugin, { writerSeams: opts.seams?.writer })
  await fastify.register(clusterPlugin)
  await fastify.register(agentHubPlugin)
  await fastify.register(agentControlPlugin)
  await fastify.register(eventStorePlugin)
  await fastify.register(historyPlugin)
  await fastify.register(searchPlugin)
  await fastify.register(liveHubPlugin)
  await fastify.register(metricsPlugin)
  await fastify.register(approvalsPlugin)
  await fastify.register(transcriptsPlugin)
  await fastify.register(usagePlugin)
  await fastify.register(fleetPlugin)

  await fastify.register(websocket, {
    options: { maxPayload: opts.config.maxFrameBytes },
    // a protocol error (a frame over maxPayload, invalid UTF-8, …: ws's WS_ERR_* codes) comes after ws has begun
    // its close handshake with the code that says why (1009, 1007, …); the default handler's terminate() would cut
    // it off, the peer would see 1006 and send the same frame again. Anything else still ends the socket at once.
    errorHandler: function (error, socket, request) {
      const code = (error as { code?: unknown }).code
      if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
        request.log.info({ err: error }, 'websocket protocol error: closing with its code')
        return
      }
      request.log.error({ err: error }, 'websocket error')
      socket.terminate()
    },
    // agents are told to come back later (1001) and given a moment to finish; their last lines are still stored
    preClose: async function () {
      await fastify.agents.closeAll(CloseCodes.GOING_AWAY, 'server shutting down')
      for (const client of fastify.websocketServer.clients) client.close(CloseCodes.GOING_AWAY, 'server shutting down')
      // a peer that never finishes the close handshake (ws waits 30 s) must not hold up the flush past the grace delay
      const cutoff = setTimeout(() => { for (const client of fastify.websocketServer.clients) client.terminate() }, 2000)
      await new Promise<void>((resolve) => fastify.websocketServer.close(() => resolve()))
      clearTimeout(cutoff)
    }
  })

  // after @fastify/websocket, whose hooks must see a refused upgrade (to close its socket); before any route,
  // because the rate limit attaches itself to operator routes as they are declared
  await fastify.register(authPlugin)
  await fastify.register(securityPlugin)
  // before any route and before the API document: it marks and documents the operator POSTs as it sees them
  await fastify.register(idempotencyPlugin)
  // before any route: it documents each route as it is declared
  await fastify.register(openapiPlugin)

  await fastify.register(healthRoutes)
  await fastify.register(wsRoutes)
  await fastify.register(agentRoutes)
  await fastify.register(transcriptRoutes)
  await fastify.register(agentControlRoutes)
  await fastify.register(streamRoutes)
  await fastify.register(searchRoutes)
  await fastify.register(metricsRoutes)
  await fastify.register(approvalRoutes)
  await fastify.register(setAsideRoutes)
  await fastify.register(usageRoutes)
  await fastify.register(runnerRoutes)
  await fastify.register(agentRunRoutes)
  await fastify.register(whoamiRoutes)
  await fastify.register(viewerRoutes)
  await fastify.register(mcpRoutes)
}
