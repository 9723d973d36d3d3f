// The write path's shared vocabulary: what is queued, what the writer knows about an agent, what it stores.
import type { SessionsTable } from '../../db/schema.js'
import type { AgentMessage } from '../protocol/ndjson.js'
import type { EventDraft, EventType } from '../protocol/messages.js'
import type { Static } from '@sinclair/typebox'
import type { ClearContextResult } from '../schemas/agents.js'
import type { StoredEvent } from '../schemas/events.js'
import type { ModelUsage } from '../usage/counters.js'

export type { StoredEvent } from '../schemas/events.js'

/** What the agent made of a `/clear`, as the clear-context route answers it. */
export type ClearOutcome = Static<typeof ClearContextResult>['agent_context']

/** A `/clear` sent to a connected agent, waiting for its answer; the store settles the caller by `id`. */
export interface ClearTurn {
  kind: 'clear'
  id: number
  sessionNumber: number
  previousSession: number
  /** The CLI's session id before the clear; a different one afterwards means it really cleared. */
  previousClaudeSession: string | null
  cleared: boolean
  /** Already reported as no_answer: a late reply still counts, until a newer clear supersedes it. */
  timedOut: boolean
}

export type Turn = { kind: 'prompt' } | ClearTurn

/** What the writer knows about one agent after its last commit; the planner returns a new one per batch. */
export interface AgentLog {
  /** The agent's integer key in the database. */
  key: number
  lastSeq: number
  oldestSeq: number | null
  costBaseline: number | null
  /**
   * The previous process's session and counter, kept when a new process connects: a CLI started with
   * --resume continues that session's counter instead of starting at zero.
   */
  resumeFrom: { sessionId: string, total: number, models: ModelUsage | null } | null
  /** The per-model counters (`modelUsage`) of the current process's last result: usage deltas are taken from them. */
  usageBaseline: ModelUsage | null
  claudeSessionId: string | null
  info: Record<string, unknown> | null
  pendingTurns: Turn[]
  lastSeenAt: string | null
  lastConnectedAt: string | null
  currentSession: number
}

/**
 * What is queued, in receive order. `session` is stamped at receipt (the clear-context barrier), `at` is the
 * receive time: the planner takes both from here and never reads a clock.
 */
export type Input =
  | { kind: 'line', agentId: string, session: number, at: string, message: AgentMessage }
  | { kind: 'prompt', agentId: string, session: number, at: string, content: string }
  | { kind: 'record', agentId: string, session: number, at: string, drafts: EventDraft[] }
  | { kind: 'clear', agentId: string, session: number, at: string, previousSession: number, turn: ClearTurn | null, outcome: ClearOutcome | null }
  | { kind: 'clear_outcome', agentId: string, session: number, at: string, outcome: ClearOutcome, clearSession: number, previousSession: number }
  | { kind: 'connect', agentId: string, session: number, at: string, newProcess: boolean }
  | { kind: 'seen', agentId: string, session: number, at: string }

/**
 * A row the writer inserts: an event before it has its id, with the agent's key; `line_uuid` is set on the first
 * event of a stream-json line (the dedupe record).
 */
export type PlannedRow = Omit<StoredEvent, 'id' | 'event_type'> & {
  agent_key: number
  event_type: EventType
  line_uuid: string | null
}

/** A batch's additions to one session's totals, upserted into the sessions table. */
export type SessionDelta = SessionsTable
