// Schemas of the live streams: where to start, what to follow, and the resume header.
import { Type, type Static } from '@sinclair/typebox'

const Position = Type.String({
  pattern: '^(latest|[0-9]{1,15})$',
  description: 'start after this position (exclusive), or "latest" for only new events; default: the start of the retained log'
})

export const AgentStreamQuery = Type.Object({
  after: Type.Optional(Position),
  session: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'only this session' })),
  type: Type.Optional(Type.String({ maxLength: 1000, description: 'comma-separated event types' }))
}, { additionalProperties: false })
export type AgentStreamQueryType = Static<typeof AgentStreamQuery>

export const GlobalStreamQuery = Type.Object({
  after: Type.Optional(Position),
  agents: Type.Optional(Type.String({ maxLength: 10000, description: 'comma-separated agent ids' })),
  type: Type.Optional(Type.String({ maxLength: 1000, description: 'comma-separated event types' }))
}, { additionalProperties: false })
export type GlobalStreamQueryType = Static<typeof GlobalStreamQuery>

/** EventSource sends the id of the last message it saw when it reconnects; it wins over `after`. */
export const ResumeHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{0,15}$', description: 'the id of the last message received' }))
})
export type ResumeHeadersType = Static<typeof ResumeHeaders>
