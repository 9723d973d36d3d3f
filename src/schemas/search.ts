// Schemas of the search endpoint.
import { Type, type Static } from '@sinclair/typebox'
import { AgentId } from './common.js'

export const SearchQuery = Type.Object({
  q: Type.String({ minLength: 1, maxLength: 1000, description: 'words, "phrases", prefixes (migrat*), AND / OR / NOT (upper case), parentheses; adjacent terms must all match' }),
  agent: Type.Optional(AgentId),
  session: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'only this session (of every agent, unless agent is given)' })),
  type: Type.Optional(Type.String({ maxLength: 1000, description: 'comma-separated event types' })),
  after: Type.Optional(Type.String({ format: 'date-time', description: 'only events received after this ISO-8601 time' })),
  before: Type.Optional(Type.String({ format: 'date-time', description: 'only events received before this ISO-8601 time' })),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ maxLength: 1000, description: 'next_cursor of the previous page' }))
}, { additionalProperties: false })
export type SearchQueryType = Static<typeof SearchQuery>

export const SearchHit = Type.Object({
  agent_id: Type.String(),
  session_number: Type.Integer(),
  seq: Type.Integer(),
  event_type: Type.String(),
  created_at: Type.String(),
  snippet: Type.String({ description: 'plain text around the match (never markup)' }),
  highlights: Type.Array(Type.Tuple([Type.Integer(), Type.Integer()]), {
    description: '[start, end) UTF-16 offsets of the matched words in snippet'
  }),
  score: Type.Number({ description: 'relevance, higher is better; comparable only within one result list' })
})

export const SearchResult = Type.Object({
  hits: Type.Array(SearchHit),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
  indexed_through: Type.Integer({
    description: 'the newest event id the search covers: every event up to it could be found; newer ones are indexed within about a second of their commit'
  })
})
