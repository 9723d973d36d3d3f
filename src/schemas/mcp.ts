// Schemas of the MCP tools' arguments (/mcp): the JSON schemas a model reads, and their static types.
import { Type, type Static } from '@sinclair/typebox'
import { AgentId } from './common.js'
import { EVENT_TYPES } from '../protocol/messages.js'

const Seq = Type.Integer({ minimum: 0, maximum: 2147483647 })
const Time = Type.String({ format: 'date-time', description: 'an ISO-8601 time, e.g. 2026-05-01T12:00:00Z' })
const EventType = Type.Union(EVENT_TYPES.map(t => Type.Literal(t)))

export const SearchArgs = Type.Object({
  query: Type.String({
    minLength: 1,
    maxLength: 1000,
    description: 'words (all must match), "exact phrases", prefixes (migrat*), AND / OR / NOT in upper case, parentheses'
  }),
  agent: Type.Optional({ ...AgentId, description: 'only this agent\'s events' }),
  type: Type.Optional(Type.Array(EventType, { maxItems: EVENT_TYPES.length, description: 'only these event types, e.g. ["tool_result"] for command output' })),
  session: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'only this session number' })),
  since: Type.Optional({ ...Time, description: 'only events after this ISO-8601 time' }),
  until: Type.Optional({ ...Time, description: 'only events before this ISO-8601 time' }),
  include_own_session: Type.Optional(Type.Boolean({ description: 'also search your own current session (left out by default)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, description: 'hits per page (default 10)' })),
  cursor: Type.Optional(Type.String({ maxLength: 1000, description: 'next_cursor of the previous call, for more hits' }))
}, { additionalProperties: false })
export type SearchArgsType = Static<typeof SearchArgs>

export const ListAgentsArgs = Type.Object({}, { additionalProperties: false })

export const ListSessionsArgs = Type.Object({
  agent: { ...AgentId, description: 'the agent id (from list_agents or a search hit)' },
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: 'the newest this many sessions (default 20)' }))
}, { additionalProperties: false })
export type ListSessionsArgsType = Static<typeof ListSessionsArgs>

export const GetEventsArgs = Type.Object({
  agent: { ...AgentId, description: 'the agent id (from list_agents or a search hit)' },
  around: Type.Optional({ ...Seq, description: 'the events around this seq (a search hit\'s seq): half before, half after' }),
  after: Type.Optional({ ...Seq, description: 'the events after this seq, oldest first' }),
  before: Type.Optional({ ...Seq, description: 'the events before this seq, newest last' }),
  session: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'only this session number' })),
  type: Type.Optional(Type.Array(EventType, { maxItems: EVENT_TYPES.length, description: 'only these event types' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'how many events (default 20)' })),
  max_chars: Type.Optional(Type.Integer({ minimum: 100, maximum: 20000, description: 'each event\'s content is cut to this many characters (default 1000)' }))
}, { additionalProperties: false })
export type GetEventsArgsType = Static<typeof GetEventsArgs>

export const UsageArgs = Type.Object({
  since: Type.Optional({ ...Time, description: 'count usage from this time (from the start of its UTC hour)' }),
  until: Type.Optional({ ...Time, description: 'count usage before this time (the UTC hours that start before it)' }),
  by: Type.Optional(Type.Union([Type.Literal('agent'), Type.Literal('model')], { description: 'group totals by agent (default) or by model' })),
  agent: Type.Optional({ ...AgentId, description: 'only this agent' })
}, { additionalProperties: false })
export type UsageArgsType = Static<typeof UsageArgs>
