// What a live follower is sent, and the transport it goes through: the hub decides what, the routes how it looks
// on the wire (SSE, WebSocket).
import type { Static } from '@sinclair/typebox'
import type { StoredEvent } from '../schemas/events.js'
import type { AgentNotice, CaughtUpAgent, CaughtUpGlobal, Truncated } from '../schemas/stream.js'

export type AgentNoticeData = Static<typeof AgentNotice>

/** Where a follower is in the log: by seq (one agent's log) or by id (every agent's). */
export type Order = 'seq' | 'id'

export type LiveMessage =
  | { kind: 'event', event: StoredEvent, cursor: number }
  /**
   * One commit's events for followers without filters, in cursor order: one message shared by all of them, so a
   * commit costs each follower one message (and a transport formats it once), however many events it holds.
   */
  | { kind: 'run', events: StoredEvent[], by: Order }
  | { kind: 'caught_up', data: Static<typeof CaughtUpAgent> | Static<typeof CaughtUpGlobal> }
  | { kind: 'truncated', data: Static<typeof Truncated> }
  | { kind: 'agent', data: AgentNoticeData }

export interface LiveSink {
  /** Queues a message (a transport may gather several); false when the transport is full: await drained(). */
  write: (message: LiveMessage) => boolean
  /** Sends whatever write() gathered; false when the transport is full. Called before the follower waits. */
  flush: () => boolean
  drained: () => Promise<void>
  heartbeat: () => void
  /** Sends a final message and closes; resolves once the transport is closed. */
  shutdown: () => Promise<void>
  /** Closes the transport at once (a failure on our side, or a peer that will not take the final message). */
  abort: () => void
}

export const bySeq = (e: StoredEvent): number => e.seq
export const byId = (e: StoredEvent): number => e.id
export const cursorOf = (by: Order): (e: StoredEvent) => number => by === 'seq' ? bySeq : byId

const jsonCache = new WeakMap<StoredEvent, string>()

/** The event as JSON, exactly as the history endpoint returns it; computed once however many followers send it. */
export function eventJson (event: StoredEvent): string {
  let json = jsonCache.get(event)
  if (json === undefined) {
    json = JSON.stringify(event)
    jsonCache.set(event, json)
  }
  return json
}
