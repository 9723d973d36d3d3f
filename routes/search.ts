// Full-text search across every agent's log.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorBody } from '../src/schemas/common.js'
import { SearchQuery, SearchResult } from '../src/schemas/search.js'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/search', {
    schema: {
      querystring: SearchQuery,
      response: { 200: SearchResult, 400: ErrorBody }
    }
  }, async function (request) {
    return fastify.textSearch.search(request.query)
  })
}

export default plugin
