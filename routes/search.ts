// Full-text search across every agent's log.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SearchQuery, SearchResult } from '../src/schemas/search.js'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/search', {
    schema: {
      summary: 'Search every agent\'s log',
      description: 'Full-text search over event content, newest first, filtered by agent, session, event type and time; ' +
        'page with the returned cursor. A query that cannot be parsed is a 400 (`bad_query`) saying where.',
      tags: ['search'],
      querystring: SearchQuery,
      response: { 200: { ...SearchResult, description: 'The matching events with snippets, and the cursor of the next page' } }
    }
  }, async function (request) {
    return fastify.textSearch.search(request.query)
  })
}

export default plugin
