// Schemas of the set-aside lines: agent lines the database refused on their own, kept for operators.
import { Type } from '@sinclair/typebox'
import { AgentId } from './common.js'

export const SetAsideQuery = Type.Object({
  agent: Type.Optional(AgentId),
  after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'an id from next_cursor (exclusive)' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 })
}, { additionalProperties: false })

const SetAsideLine = Type.Object({
  id: Type.Integer({ description: 'its place among set-aside lines (the cursor)' }),
  agent_id: Type.String(),
  after_seq: Type.Integer({ description: "the agent's last seq when the line was set aside: it belongs right after that event (it took no seq)" }),
  session_number: Type.Integer(),
  line: Type.String({ description: 'the stream-json line as received, as JSON text (secrets masked like events)' }),
  error: Type.String({ description: "the database's error for it" }),
  created_at: Type.String()
})

export const SetAsideList = Type.Object({
  lines: Type.Array(SetAsideLine),
  next_cursor: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as `after` for the next page; null on the last one' })
})
