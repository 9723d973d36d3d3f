// GET /metrics: Prometheus text exposition (reader role when access control is on).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

const Exposition = Type.String({ description: 'Prometheus text format 0.0.4' })

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/metrics', { schema: { response: { 200: Exposition } } }, async function (request, reply) {
    reply.header('content-type', fastify.metrics.contentType)
    return await fastify.metrics.metrics()
  })
}

export default plugin
