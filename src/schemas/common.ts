// Schemas shared by every route: error bodies and the agent id.
import { type ObjectOptions, Type } from '@sinclair/typebox'

const AGENT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'
const agentIdRegex = new RegExp(AGENT_ID_PATTERN)

export function isValidAgentId (value: unknown): value is string {
  return typeof value === 'string' && agentIdRegex.test(value)
}

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'the HTTP status text' }),
  message: Type.String({ description: 'what went wrong, for people' }),
  code: Type.String({ description: 'a stable snake_case identifier for clients to branch on' })
}, { description: 'An error: what went wrong and a code for programs (see the table in the API description)' })

export const AgentId = Type.String({
  pattern: AGENT_ID_PATTERN,
  description: '1 to 128 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit'
})

export const AgentParams = Type.Object({ agentId: AgentId })

/**
 * A JSON object with any properties (an event's metadata, an agent's info). The schema is a plain open object; its
 * static type is a record, where `Type.Object({})` alone would give `{}` (any value but null).
 */
export const JsonObject = (options: ObjectOptions = {}) =>
  Type.Unsafe<Record<string, unknown>>(Type.Object({}, { additionalProperties: true, ...options }))
