// Exclusive writes (imports): many events that must keep their own order and session, planned with queries of
// their own (what is already stored), knowing the agent's position first. One runs as one queue item: the writer
// commits everything queued before it, then runs it alone in its own transaction, with the agent's committed
// position (last seq, current session) as it stands after those earlier items, and continues with the items
// queued after it. So seq stays gapless and in receive order, and nothing the agent sends meanwhile can land
// between an import's events.
import type { Transaction } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { StoredEvent } from './types.js'

/** What an exclusive write sees of its agent and may move forward. */
export interface ExclusiveAgent {
  lastSeq: number
  oldestSeq: number | null
  currentSession: number
}

export interface ExclusiveResult<T> {
  /** The events it inserted (with their ids), announced to the live streams after the commit. */
  events: StoredEvent[]
  agent: ExclusiveAgent
  /** Line uuids it stored, with the seq of their first event: re-sent live lines with these are dropped. */
  uuids: Array<{ uuid: string, seq: number }>
  /** Replaces what the agent told about itself (model, cwd, ...), when given. */
  info?: Record<string, unknown> | null
  value: T
}

export type ExclusiveRun<T> = (trx: Transaction<Database>, agent: ExclusiveAgent) => Promise<ExclusiveResult<T>>

export interface ExclusiveItem {
  agentId: string
  run: ExclusiveRun<unknown>
  resolve: (value: unknown) => void
  reject: (err: Error) => void
}
