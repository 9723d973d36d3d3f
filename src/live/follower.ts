// One follower of the live feed as plain state, and the rules of what it is sent: which events it takes, what
// its bounded buffer does when it overflows, what of a buffered message is still news at its position.
import type { StoredEvent } from '../schemas/events.js'
import { type AgentNoticeData, cursorOf, type LiveMessage, type LiveSink, type Order } from './messages.js'

export interface FollowerState {
  scope: 'agent' | 'global'
  /** The agent followed ('' for the global stream). */
  agentId: string
  agents: Set<string> | null
  types: Set<string> | null
  session: number | null
  /** Last seq (agent) or id (global) sent or passed over; everything at or before it is never sent again. */
  position: number
  /** Started without a position: a log that begins after seq 1 is not news to this follower. */
  fromStart: boolean
  sink: LiveSink
  /** Live events (and the caught_up marker) waiting to be sent, at most the buffer's limit of events. */
  buffer: LiveMessage[]
  /** Events in `buffer` (a run holds several). */
  buffered: number
  /** Connection notices not sent yet: the latest per agent, so their number is bounded by the agents'. */
  notices: Map<string, AgentNoticeData>
  /** Set when the buffer overflowed: the next read from the database covers what was not buffered. */
  behind: boolean
  caughtUp: boolean
  closed: boolean
  wake: (() => void) | null
  /** Resolves when the follower is closed, so nothing waits on a transport that will never drain. */
  gone: Promise<void>
  leave: () => void
}

export interface FollowerStart {
  scope: 'agent' | 'global'
  agentId: string
  position: number
  fromStart: boolean
  types: string[] | null
  session: number | null
  agents: string[] | null
}

export function newFollower (start: FollowerStart, sink: LiveSink): FollowerState {
  let leave: () => void = () => {}
  const gone = new Promise<void>((resolve) => { leave = resolve })
  return {
    scope: start.scope,
    agentId: start.agentId,
    agents: start.agents === null ? null : new Set(start.agents),
    types: start.types === null ? null : new Set(start.types),
    session: start.session,
    position: start.position,
    fromStart: start.fromStart,
    sink,
    buffer: [],
    buffered: 0,
    notices: new Map(),
    behind: true, // the first read is a catch-up like any other
    caughtUp: false,
    closed: false,
    wake: null,
    gone,
    leave
  }
}

export const orderOf = (f: FollowerState): Order => f.scope === 'agent' ? 'seq' : 'id'

/** Whether the follower's filters take the event. */
export function matches (f: FollowerState, e: Pick<StoredEvent, 'agent_id' | 'event_type' | 'session_number'>): boolean {
  if (f.types !== null && !f.types.has(e.event_type)) return false
  if (f.session !== null && e.session_number !== f.session) return false
  if (f.agents !== null && !f.agents.has(e.agent_id)) return false
  return true
}

/** Takes every event: such followers share one message per commit. */
const unfiltered = (f: FollowerState): boolean => f.types === null && f.session === null && f.agents === null

export function wake (f: FollowerState): void {
  const w = f.wake
  f.wake = null
  if (w !== null) w()
}

/** Drops what is buffered: the follower reads from the log again, which has all of it. */
export function reread (f: FollowerState): void {
  if (f.closed || f.behind) return
  f.behind = true
  f.buffer = []
  f.buffered = 0
  wake(f)
}

/**
 * Buffers a live message of `events` events for the follower; one that would hold more than `limit` events is
 * too far behind to hold in memory and reads from the log instead. True when the follower fell behind by it.
 */
export function offer (f: FollowerState, message: LiveMessage, limit: number, events = 1): boolean {
  if (f.closed || f.behind) return false
  if (f.buffered + events > limit) {
    reread(f)
    return true
  }
  f.buffer.push(message)
  f.buffered += events
  wake(f)
  return false
}

/**
 * Offers one commit's events (of one agent, by seq; or of all, by id) to followers: those without filters share
 * one run, the others are offered the events they take one by one. Returns how many fell behind.
 */
export function deliver (followers: Iterable<FollowerState>, events: StoredEvent[], by: Order, limit: number): number {
  let shared: LiveMessage | null = null
  let fellBehind = 0
  const cursor = cursorOf(by)
  for (const f of followers) {
    if (unfiltered(f)) {
      if (offer(f, shared ??= { kind: 'run', events, by }, limit, events.length)) fellBehind++
    } else {
      for (const event of events) {
        if (matches(f, event) && offer(f, { kind: 'event', event, cursor: cursor(event) }, limit)) fellBehind++
      }
    }
  }
  return fellBehind
}

/**
 * What a buffered message still holds for a follower at `position`, each with the position the follower is at once
 * it is sent: nothing when it was read from the log meanwhile, the message itself, or (a run read in part from
 * the log) its newer events one by one.
 */
export function unsent (m: LiveMessage, position: number): Array<{ message: LiveMessage, position: number }> {
  if (m.kind === 'event') return m.cursor <= position ? [] : [{ message: m, position: m.cursor }]
  if (m.kind !== 'run') return [{ message: m, position }]
  const cursor = cursorOf(m.by)
  const last = cursor(m.events[m.events.length - 1])
  if (last <= position) return []
  if (cursor(m.events[0]) > position) return [{ message: m, position: last }]
  const out: Array<{ message: LiveMessage, position: number }> = []
  for (const event of m.events) {
    const at = cursor(event)
    if (at > position) out.push({ message: { kind: 'event', event, cursor: at }, position: at })
  }
  return out
}

/**
 * A catch-up page (in cursor order, read from memory or the log) for the follower where it is: the events it
 * takes, sent as one run, and where it is after the page; rows the filters leave out are passed over.
 */
export function fromPage (f: FollowerState, page: StoredEvent[]): { run: StoredEvent[], position: number } {
  let position = f.position
  const cursor = cursorOf(orderOf(f))
  const run: StoredEvent[] = []
  for (const event of page) {
    const at = cursor(event)
    if (at <= position) continue
    position = at
    if (matches(f, event)) run.push(event)
  }
  return { run, position }
}
