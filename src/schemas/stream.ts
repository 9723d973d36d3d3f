// Schemas of the live streams: where to start, what to follow, the resume header, and the messages they send.
import { Type } from '@sinclair/typebox'

const Position = Type.String({
  pattern: '^(latest|[0-9]{1,15})$',
  description: 'start after this position (exclusive), or "latest" for only new events; default: the start of the retained log'
})

export const AgentStreamQuery = Type.Object({
  after: Type.Optional(Position),
  session: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'only this session' })),
  type: Type.Optional(Type.String({ maxLength: 1000, description: 'comma-separated event types' }))
}, { additionalProperties: false })

export const GlobalStreamQuery = Type.Object({
  after: Type.Optional(Position),
  agents: Type.Optional(Type.String({ maxLength: 10000, description: 'comma-separated agent ids' })),
  type: Type.Optional(Type.String({ maxLength: 1000, description: 'comma-separated event types' }))
}, { additionalProperties: false })

/** EventSource sends the id of the last message it saw when it reconnects; it wins over `after`. */
export const ResumeHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{0,15}$', description: 'the id of the last message received' }))
})

// ---- what the streams send (documented in the OpenAPI document; the typed client reads them) ----

export const CaughtUpAgent = Type.Object({ latest_seq: Type.Integer() }, { description: 'the catch-up reached the head; what follows is live' })
export const Truncated = Type.Object({ oldest_seq: Type.Integer() }, { description: '`after` was older than the retained window; the stream goes on from oldest_seq' })
export const Shutdown = Type.Object({ reason: Type.String() }, { description: 'the server is shutting down; reconnect (with Last-Event-ID) later' })
export const AgentNotice = Type.Object({
  agent_id: Type.String(),
  state: Type.Union([Type.Literal('connected'), Type.Literal('disconnected')]),
  at: Type.String({ description: 'ISO-8601 UTC' })
}, { description: 'an agent connected or disconnected' })
export const CaughtUpGlobal = Type.Object({
  latest_id: Type.Integer(),
  connected: Type.Array(Type.String(), { description: 'the agents connected now' })
}, { description: 'the catch-up reached the head; what follows is live' })

/** Stream markers over WebSocket: the SSE event name becomes `type`. */
export const WsCaughtUpAgent = Type.Object({ type: Type.Literal('caught_up'), latest_seq: Type.Integer() }, { description: CaughtUpAgent.description })
export const WsTruncated = Type.Object({ type: Type.Literal('truncated'), oldest_seq: Type.Integer() }, { description: Truncated.description })
export const WsAgentNotice = Type.Object({ type: Type.Literal('agent'), ...AgentNotice.properties }, { description: AgentNotice.description })
export const WsCaughtUpGlobal = Type.Object({ type: Type.Literal('caught_up'), ...CaughtUpGlobal.properties }, { description: CaughtUpGlobal.description })
