// GET /metrics: Prometheus text exposition (reader role when access control is on).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

const Exposition = Type.String({ description: 'Prometheus text format 0.0.4' })

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      description: 'Ingest, write queue, commit batches and durations, connected agents, stream subscribers, HTTP ' +
        'request durations and the process\'s own metrics, in the Prometheus text format (reader role).',
      tags: ['health'],
      response: { 200: { description: 'Prometheus text exposition', content: { 'text/plain': { schema: Exposition } } } }
    }
  }, async function (request, reply) {
    reply.header('content-type', fastify.metrics.contentType)
    return await fastify.metrics.metrics()
  })
}

export default plugin
