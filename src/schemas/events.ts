// Schemas of stored events and of the history endpoint.
import { Type, type Static } from '@sinclair/typebox'
import { JsonObject } from './common.js'

export const Event = Type.Object({
  id: Type.Integer(),
  agent_id: Type.String(),
  session_number: Type.Integer(),
  seq: Type.Integer(),
  event_type: Type.String(),
  content: Type.Union([Type.String(), Type.Null()]),
  metadata: Type.Union([JsonObject(), Type.Null()]),
  created_at: Type.String()
})
/** An event as the store commits it and every reader sees it: history, the live streams, exports, the client. */
export type StoredEvent = Static<typeof Event>

export const HistoryQuery = Type.Object({
  session: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'only this session' })),
  after: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'seq, exclusive' })),
  before: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647, description: 'seq, exclusive' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  type: Type.Optional(Type.String({ maxLength: 1000, description: 'comma-separated event types' })),
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' })
}, { additionalProperties: false })
export type HistoryQueryType = Static<typeof HistoryQuery>

export const EventPage = Type.Object({
  events: Type.Array(Event),
  has_more: Type.Boolean(),
  next_cursor: Type.Union([Type.Integer(), Type.Null()]),
  latest_seq: Type.Integer(),
  oldest_seq: Type.Union([Type.Integer(), Type.Null()])
}, { description: 'One page of events; follow next_cursor for the next' })
