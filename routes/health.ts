// Liveness and readiness for orchestrators and load balancers.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Health } from '../src/schemas/health.js'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/health/live', {
    schema: {
      summary: 'Liveness',
      description: 'Answers 200 while the process serves requests. Never needs a token.',
      tags: ['health'],
      response: { 200: Health }
    }
  }, async function () {
    return { status: 'ok' }
  })

  fastify.get('/health/ready', {
    schema: {
      summary: 'Readiness',
      description: '503 while the database cannot be written, a write has waited longer than WRITE_TIMEOUT_MS (the ' +
        'writer is stuck, e.g. on a lock), the write queue is over QUEUE_MAX or the event loop is stalled ' +
        '(READY_MAX_EVENT_LOOP_DELAY_MS); `last_error` says which. Never needs a token.',
      tags: ['health'],
      response: { 200: Health, 503: { ...Health, description: 'Not ready: `last_error` says why' } }
    }
  }, async function (request, reply) {
    const { events, agents, config } = fastify
    // the event-loop delay is sampled by @fastify/under-pressure (READY_MAX_EVENT_LOOP_DELAY_MS; see plugins/metrics.ts)
    const overloaded = fastify.isUnderPressure()
    // a commit that neither succeeds nor fails (PostgreSQL waiting on a lock) makes every wait on it time out
    const waited = events.oldestWaitMs
    const stuck = waited > config.writeTimeoutMs
    const ready = events.stats.healthy && !stuck && !events.isFull && !overloaded
    reply.code(ready ? 200 : 503)
    return {
      status: ready ? 'ok' : 'unavailable',
      queue_depth: events.queueDepth,
      connected_agents: agents.size,
      last_error: ready
        ? null
        : !events.stats.healthy
            ? events.stats.lastError
            : stuck
              ? `a write has waited ${waited} ms, over WRITE_TIMEOUT_MS: the storage is stuck or overloaded`
              : overloaded ? 'event loop delay over READY_MAX_EVENT_LOOP_DELAY_MS' : 'write queue over QUEUE_MAX: agent sockets paused'
    }
  })
}

export default plugin
