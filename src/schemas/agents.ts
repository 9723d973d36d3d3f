// Schemas of the agent listing, sessions and operator commands.
import { Type } from '@sinclair/typebox'
import { JsonObject } from './common.js'
import { Event } from './events.js'

const Nullable = <T extends ReturnType<typeof Type.String>> (t: T) => Type.Union([t, Type.Null()])

export const AgentSummary = Type.Object({
  agent_id: Type.String(),
  connected: Type.Boolean(),
  /** The instance holding the agent's socket (several instances on one PostgreSQL), null when not connected. */
  instance: Nullable(Type.String()),
  current_session: Type.Integer(),
  last_seq: Type.Integer(),
  oldest_seq: Type.Union([Type.Integer(), Type.Null()]),
  event_count: Type.Integer(),
  created_at: Type.String(),
  last_connected_at: Nullable(Type.String()),
  last_seen_at: Nullable(Type.String()),
  cost_usd: Type.Number(),
  input_tokens: Type.Integer(),
  output_tokens: Type.Integer(),
  info: Type.Union([JsonObject(), Type.Null()]),
  /** The runner that started the agent (`agentlog runner`), null for an agent started by hand. */
  runner: Nullable(Type.String()),
  state: Type.Union([
    Type.Literal('starting'), Type.Literal('running'), Type.Literal('stopped'), Type.Literal('runner_offline'), Type.Null()
  ], { description: 'a runner\'s agent: starting, running, stopped, or runner_offline (its runner is away); null for an agent started by hand' })
})

export const AgentList = Type.Object({ agents: Type.Array(AgentSummary) }, { description: 'The agents, ordered by id' })

export const Session = Type.Object({
  session_number: Type.Integer(),
  first_seq: Type.Union([Type.Integer(), Type.Null()]),
  last_seq: Type.Integer(),
  event_count: Type.Integer(),
  started_at: Type.String(),
  ended_at: Type.String(),
  cost_usd: Type.Number(),
  input_tokens: Type.Integer(),
  output_tokens: Type.Integer(),
  cache_read_tokens: Type.Integer(),
  cache_creation_tokens: Type.Integer()
})

export const SessionList = Type.Object({
  current_session: Type.Integer(),
  sessions: Type.Array(Session)
}, { description: 'The agent\'s sessions, oldest first, and the current one' })

export const PromptBody = Type.Object({
  // no U+0000: PostgreSQL text cannot store it, and the log must hold what the agent was sent
  content: Type.String({ minLength: 1, maxLength: 100000, pattern: '^[^\\u0000]*$', description: 'the prompt, as the agent gets it; no U+0000' })
}, { additionalProperties: false })

export const PromptAccepted = Type.Object({
  agent_id: Type.String(),
  session_number: Type.Integer(),
  events: Type.Array(Event)
}, { description: 'Sent and stored: the prompt_sent and activity_changed events' })

export const ClearContextResult = Type.Object({
  agent_id: Type.String(),
  session_number: Type.Integer(),
  previous_session: Type.Integer(),
  agent_context: Type.Union([
    Type.Literal('cleared'), Type.Literal('not_supported'), Type.Literal('no_answer'), Type.Literal('not_connected')
  ])
}, { description: 'The new session, and what the agent made of /clear' })
