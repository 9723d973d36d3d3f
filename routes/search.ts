// Full-text search across every agent's log.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SearchQuery, SearchResult } from '../src/schemas/search.js'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/search', {
    schema: {
      summary: 'Search every agent\'s log',
      description: 'Full-text search over output, thinking, tool calls and results, prompts and turn results: ' +
        'words, "phrases", prefixes (migrat*), AND / OR / NOT and parentheses. Hits are ranked by relevance ' +
        'within windows of the newest matches, newest first among equal scores; snippets are plain text with ' +
        'UTF-16 highlight offsets. Follow next_cursor for more.',
      tags: ['search'],
      querystring: SearchQuery,
      response: { 200: { ...SearchResult, description: 'The matching events with snippets, and the cursor of the next page' } }
    }
  }, async function (request) {
    return fastify.textSearch.search(request.query)
  })
}

export default plugin
