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
      description: '503 while the database cannot be written, the write queue is over QUEUE_MAX or the event loop is ' +
        'stalled (READY_MAX_EVENT_LOOP_DELAY_MS); `last_error` says which. Never needs a token.',
      tags: ['health'],
      response: { 200: Health, 503: { ...Health, description: 'Not ready: `last_error` says why' } }
    }
  }, async function (request, reply) {
    const { events, agents } = fastify
    // the event-loop delay is sampled by @fastify/under-pressure (READY_MAX_EVENT_LOOP_DELAY_MS; see plugins/metrics.ts)
    const overloaded = fastify.isUnderPressure()
    const ready = events.stats.healthy && !events.isFull && !overloaded
    reply.code(ready ? 200 : 503)
    return {
      status: ready ? 'ok' : 'unavailable',
      queue_depth: events.queueDepth,
      connected_agents: agents.size,
      last_error: ready
        ? null
        : !events.stats.healthy
            ? events.stats.lastError
            : overloaded ? 'event loop delay over READY_MAX_EVENT_LOOP_DELAY_MS' : 'write queue over QUEUE_MAX: agent sockets paused'
    }
  })
}

export default plugin
