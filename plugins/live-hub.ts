// The live feed: followers of one agent's log (or of every agent's) are caught up from the database, then fed
// from each commit; a follower that falls behind goes back to reading instead of losing or hoarding events.
//
// The hand-over has no seam because a follower is registered, and buffers what is committed, before its first
// read: an event is either committed before a read starts (the read sees it) or announced after the follower
// was registered (the buffer has it). The overlap is dropped by position: seq for one agent, id for all.
// Only committed events are announced (onCommit runs after the transaction), so nothing a restart would lose
// is ever sent. Reads come from the database, or from the newest events kept in memory while someone follows
// (shared by all followers, bounded), so a crowd that falls behind in a burst does not re-read the log.
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Database, EventRow } from '../db/schema.js'
import type { Config } from '../src/config.js'
import type { EventStore, StoredEvent } from './event-store.js'
import type { AgentHub } from './agent-hub.js'
import { rowToEvent } from './history.js'
import type { Cluster } from '../src/cluster/cluster.js'

declare module 'fastify' {
  interface FastifyInstance { live: LiveHub }
}

export interface AgentNotice {
  agent_id: string
  state: 'connected' | 'disconnected'
  at: string
}

/** What a follower is sent; the transport (SSE, WebSocket) decides how it looks on the wire. */
export type LiveMessage =
  | { kind: 'event', event: StoredEvent, cursor: number }
  /**
   * One commit's events for followers without filters, in cursor order: one message shared by all of them, so a
   * commit costs each follower one message (and a transport formats it once), however many events it holds.
   */
  | { kind: 'run', events: StoredEvent[], by: 'seq' | 'id' }
  | { kind: 'caught_up', data: { latest_seq: number } | { latest_id: number, connected: string[] } }
  | { kind: 'truncated', data: { oldest_seq: number } }
  | { kind: 'agent', data: AgentNotice }

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

export interface AgentFollow {
  agentId: string
  /** Exclusive seq; 'latest' for only new events; null for the start of the retained log. */
  after: number | 'latest' | null
  types: string[] | null
  session: number | null
}

export interface GlobalFollow {
  /** Exclusive event id; 'latest' for only new events; null for the start of the retained log. */
  after: number | 'latest' | null
  agents: string[] | null
  types: string[] | null
}

export interface Follower {
  close: () => void
}

export class ClosingError extends Error {
  statusCode = 503
  code = 'shutting_down' as const
  constructor () {
    super('the server is shutting down')
    this.name = 'ClosingError'
  }
}

interface State {
  scope: 'agent' | 'global'
  agentId: string
  agents: Set<string> | null
  types: Set<string> | null
  session: number | null
  /** Last seq (agent) or id (global) sent or passed over; everything at or before it is never sent again. */
  position: number
  /** Started without a position: a log that begins after seq 1 is not news to this follower. */
  fromStart: boolean
  sink: LiveSink
  /** Live events (and the caught_up marker) waiting to be sent, at most config.subscriberBuffer events. */
  buffer: LiveMessage[]
  /** Events in `buffer` (a run holds several). */
  buffered: number
  /** Connection notices not sent yet: the latest per agent, so their number is bounded by the agents'. */
  notices: Map<string, AgentNotice>
  /** Set when the buffer overflowed: the next read from the database covers what was not buffered. */
  behind: boolean
  caughtUp: boolean
  closed: boolean
  wake: (() => void) | null
  /** Resolves when the follower is closed, so nothing waits on a transport that will never drain. */
  gone: Promise<void>
  leave: () => void
}

/** Rows per catch-up read. */
const PAGE = 500
/** Bytes of recent events kept in memory for all followed agents together, and for the global stream. */
const RECENT_AGENTS_BYTES = 64 * 1024 * 1024
const RECENT_GLOBAL_BYTES = 32 * 1024 * 1024
/** How long a shutdown waits for followers to take their final message before cutting them off. */
const SHUTDOWN_WAIT_MS = 1000

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

/** A memory allowance several windows draw on: each gives back its own oldest events when it is spent. */
export interface Budget {
  bytes: number
  max: number
}

/**
 * The newest committed events of one agent (or of all), in commit order: every event committed with a cursor
 * above `floor` is here, so a read from any position at or above it needs no query.
 */
export class Recent {
  private items: StoredEvent[] = []
  private start = 0
  private bytes = 0

  constructor (public floor: number, private readonly cursorOf: (e: StoredEvent) => number,
    private readonly maxEvents: number, private readonly budget: Budget) {}

  add (event: StoredEvent): void {
    this.items.push(event)
    const size = eventJson(event).length
    this.bytes += size
    this.budget.bytes += size
    while (this.items.length - this.start > 1 &&
      (this.items.length - this.start > this.maxEvents || this.budget.bytes > this.budget.max)) {
      const old = this.items[this.start++]
      const oldSize = eventJson(old).length
      this.bytes -= oldSize
      this.budget.bytes -= oldSize
      this.floor = this.cursorOf(old)
    }
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start)
      this.start = 0
    }
  }

  /** Up to `limit` events after `after`, or null when some of them are no longer kept. */
  after (after: number, limit: number): StoredEvent[] | null {
    if (after < this.floor) return null
    let lo = this.start
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.cursorOf(this.items[mid]) <= after) lo = mid + 1
      else hi = mid
    }
    return this.items.slice(lo, lo + limit)
  }

  /** Gives its memory back to the budget (nobody follows any more). */
  release (): void {
    this.budget.bytes -= this.bytes
    this.bytes = 0
    this.items = []
    this.start = 0
  }
}

export const bySeq = (e: StoredEvent): number => e.seq
export const byId = (e: StoredEvent): number => e.id

export function createLiveHub (db: Kysely<Database>, events: EventStore, hub: AgentHub, config: Config, log: FastifyBaseLogger,
  cluster: Cluster | null = null) {
  const followers = new Set<State>()
  const byAgent = new Map<string, Set<State>>()
  const globals = new Set<State>()
  // kept only while someone follows: per followed agent, and one for the global stream
  const recent = new Map<string, Recent>()
  let recentGlobal: Recent | null = null
  // enough for several commits of a burst; memory is bounded by the budgets, not by this
  const recentEvents = 10 * Math.max(config.subscriberBuffer, config.batchMax)
  const agentsBudget: Budget = { bytes: 0, max: RECENT_AGENTS_BYTES }
  const globalBudget: Budget = { bytes: 0, max: RECENT_GLOBAL_BYTES }
  const idleWaiters: Array<() => void> = []
  let running = 0
  let latestId = 0
  let closing = false
  const stats = { fellBehind: 0, truncations: 0, delivered: 0, pagesFromMemory: 0, pagesFromDatabase: 0 }

  // Several instances: events committed elsewhere are announced by a commit notice, and the followers concerned
  // read them from the database (positions make that exact). This instance's own commits are handed to followers
  // as on one instance, with two guards: an agent's followers read from the database when this instance takes
  // the agent over (what the previous owner committed may not be announced yet), and the global followers (by id)
  // are handed a commit only when every commit before it is known here (each carries the highest id committed
  // before it, see src/cluster/commits.ts); otherwise they read from the database too.
  const clustered = cluster !== null
  /** Every event with an id up to this one was committed in a commit known here (announced or our own). */
  let knownThrough = 0
  /** Commits known here that follow one not known yet: previous highest id → their highest id. */
  const held = new Map<number, number>()

  /** Records a commit; true when every commit before it was already known. */
  function known (prev: number, max: number): boolean {
    if (prev > knownThrough) {
      held.set(prev, Math.max(held.get(prev) ?? 0, max))
      return false
    }
    knownThrough = Math.max(knownThrough, max)
    for (let progressed = true; progressed;) {
      progressed = false
      for (const [p, m] of held) {
        if (p > knownThrough) continue
        knownThrough = Math.max(knownThrough, m)
        held.delete(p)
        progressed = true
      }
    }
    return true
  }

  const offNotice = cluster?.onCommitNotice((ranges, local, order) => {
    if (local) return // already seen through onCommit
    if (ranges === null || order === null) {
      // notices may have been missed: everyone reads from the database, which has everything up to now
      for (const m of held.values()) knownThrough = Math.max(knownThrough, m)
      held.clear()
      for (const f of followers) reread(f)
      return
    }
    known(order.prev, order.max)
    if (order.max > latestId) latestId = order.max
    for (const [agentId] of ranges) stale(agentId)
  })
  // connections on other instances (this one's own come from the agent hub at once)
  const offPresence = cluster?.onPresence((agentId, state, instance) => { if (instance !== cluster.instanceId) changed(agentId, state) })
  // an agent's recent events are complete in memory only while this instance writes it
  const offOwnership = cluster?.onOwnership((agentId, owned) => {
    recent.get(agentId)?.release()
    recent.delete(agentId)
    const head = events.getAgent(agentId)?.committed.lastSeq
    if (owned && byAgent.has(agentId) && head !== undefined) recent.set(agentId, new Recent(head, bySeq, recentEvents, agentsBudget))
    for (const f of byAgent.get(agentId) ?? []) reread(f)
  })

  /** New events of the agent are committed: its followers and the global ones read them from the database. */
  function stale (agentId: string): void {
    for (const f of byAgent.get(agentId) ?? []) reread(f)
    for (const f of globals) if (f.agents === null || f.agents.has(agentId)) reread(f)
  }

  function reread (f: State): void {
    if (f.closed || f.behind) return
    f.behind = true
    f.buffer = []
    f.buffered = 0
    wake(f)
  }

  const offCommit = events.onCommit((batch) => {
    for (const e of batch) if (e.id > latestId) latestId = e.id
    const order = cluster?.lastLocalCommit ?? null
    const inOrder = order === null || known(order.prev, order.max)
    if (followers.size === 0) return
    if (clustered && !inOrder) {
      // an earlier commit elsewhere is not announced yet: the global followers read from the database
      for (const f of globals) reread(f)
    }
    // each agent's events of the batch, in seq order
    const runs = new Map<string, StoredEvent[]>()
    for (const event of batch) {
      recent.get(event.agent_id)?.add(event)
      recentGlobal?.add(event)
      if (!byAgent.has(event.agent_id)) continue
      const run = runs.get(event.agent_id)
      if (run === undefined) runs.set(event.agent_id, [event])
      else run.push(event)
    }
    for (const [agentId, events] of runs) {
      let shared: LiveMessage | null = null
      for (const f of byAgent.get(agentId) ?? []) {
        if (f.types === null && f.session === null) offer(f, shared ??= { kind: 'run', events, by: 'seq' }, events.length)
        else for (const event of events) if (matches(f, event)) offer(f, { kind: 'event', event, cursor: event.seq })
      }
    }
    if (!inOrder) return
    let shared: LiveMessage | null = null
    for (const f of globals) {
      if (f.types === null && f.session === null && f.agents === null) offer(f, shared ??= { kind: 'run', events: batch, by: 'id' }, batch.length)
      else for (const event of batch) if (matches(f, event)) offer(f, { kind: 'event', event, cursor: event.id })
    }
  })

  const offChange = hub.onChange((agentId, state) => { changed(agentId, state) })

  function changed (agentId: string, state: 'connected' | 'disconnected'): void {
    const notice: AgentNotice = { agent_id: agentId, state, at: new Date().toISOString() }
    for (const f of globals) {
      if (f.closed || (f.agents !== null && !f.agents.has(agentId))) continue
      // re-inserted, so the map stays in the order the agents last changed
      f.notices.delete(agentId)
      f.notices.set(agentId, notice)
      wake(f)
    }
  }

  const heartbeat = setInterval(() => {
    for (const f of followers) if (!f.closed) f.sink.heartbeat()
  }, config.heartbeatMs)
  heartbeat.unref()

  function matches (f: State, e: { agent_id: string, event_type: string, session_number: number }): boolean {
    if (f.types !== null && !f.types.has(e.event_type)) return false
    if (f.session !== null && e.session_number !== f.session) return false
    if (f.agents !== null && !f.agents.has(e.agent_id)) return false
    return true
  }

  function offer (f: State, message: LiveMessage, events = 1): void {
    if (f.closed || f.behind) return
    if (f.buffered + events > config.subscriberBuffer) {
      // too far behind to hold in memory: drop what waits, the next read from the log has all of it
      stats.fellBehind++
      f.behind = true
      f.buffer = []
      f.buffered = 0
      wake(f)
      return
    }
    f.buffer.push(message)
    f.buffered += events
    wake(f)
  }

  function wake (f: State): void {
    const w = f.wake
    f.wake = null
    if (w !== null) w()
  }

  function send (f: State, message: LiveMessage): boolean {
    if (message.kind === 'event') stats.delivered++
    else if (message.kind === 'run') stats.delivered += message.events.length
    return f.sink.write(message)
  }

  function drained (f: State): Promise<void> {
    return Promise.race([f.sink.drained(), f.gone])
  }

  async function pump (f: State): Promise<void> {
    running++
    try {
      while (!f.closed) {
        if (f.behind) {
          // everything dropped from here on is committed, so the reads below will find it
          f.behind = false
          f.buffer = []
          f.buffered = 0
          await catchUp(f)
          if (f.closed) break
          if (f.behind) continue
          if (!f.caughtUp) {
            // at this instant every committed event is either sent or in the buffer, so the marker goes last;
            // it says who is connected now, which covers every notice so far
            f.notices.clear()
            f.buffer.push(caughtUpMarker(f))
          }
        }
        if (f.buffer.length === 0 && (f.notices.size === 0 || !f.caughtUp)) {
          await new Promise<void>((resolve) => { f.wake = resolve })
          continue
        }
        const pending = f.buffer
        f.buffer = []
        f.buffered = 0
        for (let i = 0; i < pending.length && !f.closed && !f.behind; i++) {
          const m = pending[i]
          if (m.kind === 'run') {
            // a run read in part from the database goes out event by event from where the follower is
            const cursorOf = m.by === 'seq' ? bySeq : byId
            const last = cursorOf(m.events[m.events.length - 1])
            if (last <= f.position) continue
            if (cursorOf(m.events[0]) > f.position) {
              f.position = last
              if (!send(f, m)) await drained(f)
              continue
            }
            for (const event of m.events) {
              const cursor = cursorOf(event)
              if (cursor <= f.position) continue
              f.position = cursor
              if (!send(f, { kind: 'event', event, cursor })) await drained(f)
              if (f.closed || f.behind) break
            }
            continue
          }
          if (m.kind === 'event') {
            if (m.cursor <= f.position) continue // already read from the database
            f.position = m.cursor
          } else if (m.kind === 'caught_up') {
            f.caughtUp = true
          }
          if (!send(f, m)) {
            // the buffer keeps filling meanwhile; if it overflows, this follower reads from the database again
            await drained(f)
          }
        }
        if (f.caughtUp && !f.behind && !f.closed) {
          const notices = [...f.notices.values()]
          f.notices.clear()
          for (const data of notices) send(f, { kind: 'agent', data })
        }
        if (!f.closed && !f.sink.flush()) await drained(f)
      }
    } catch (err) {
      if (!f.closed) {
        log.warn({ err, agentId: f.scope === 'agent' ? f.agentId : undefined }, 'live stream failed; closing it')
        f.sink.abort()
      }
    } finally {
      running--
      remove(f)
    }
  }

  async function catchUp (f: State): Promise<void> {
    for (;;) {
      const from = f.position
      let page = (f.scope === 'agent' ? recent.get(f.agentId) : recentGlobal)?.after(from, PAGE) ?? null
      if (page !== null) {
        stats.pagesFromMemory++
      } else {
        stats.pagesFromDatabase++
        const rows = f.scope === 'agent' ? await agentPage(f, from) : await globalPage(f, from)
        if (f.closed) return
        if (f.scope === 'agent' && rows.length > 0 && rows[0].seq > from + 1 && !(f.fromStart && from === 0)) {
          // the first row is the oldest retained one (see agentPage): the events in between were pruned
          stats.truncations++
          if (!send(f, { kind: 'truncated', data: { oldest_seq: rows[0].seq } })) {
            await drained(f)
            if (f.closed) return
          }
        }
        page = rows.map(r => rowToEvent(r, 'agent_id' in r ? r.agent_id as string : f.agentId))
      }
      if (page.length === 0) return
      // the page's events this follower takes, sent as one run (one write to its transport)
      const by = f.scope === 'agent' ? 'seq' : 'id'
      const cursorOf = by === 'seq' ? bySeq : byId
      const run: StoredEvent[] = []
      for (const event of page) {
        const cursor = cursorOf(event)
        if (cursor <= f.position) continue
        f.position = cursor
        // rows that only say where the log starts or ends are passed over, not sent
        if (matches(f, event)) run.push(event)
      }
      if (run.length > 0 && !send(f, { kind: 'run', events: run, by })) {
        await drained(f)
        if (f.closed) return
      }
      if (!f.sink.flush()) {
        await drained(f)
        if (f.closed) return
      }
      if (page.length < PAGE) return
      // SQLite reads never leave the event loop: let agents and other followers in between pages
      await new Promise(resolve => setImmediate(resolve))
      if (f.closed) return
    }
  }

  /**
   * The next page of one agent's log after `after`. With a filter, the rows at after+1 and at both ends of
   * the retained log come too, whatever they are, so the first row still tells whether anything between
   * `after` and the oldest retained event was pruned (a log is gapless apart from its pruned start).
   */
  function agentPage (f: State, after: number): Promise<EventRow[]> {
    const key = events.getAgent(f.agentId)?.key ?? -1
    let query = db.selectFrom('conversation_events').selectAll()
      .where('agent_key', '=', key)
      .where('seq', '>', after)
    if (f.types !== null || f.session !== null) {
      const types = f.types === null ? null : [...f.types]
      const session = f.session
      query = query.where(eb => {
        const wanted = []
        if (types !== null) wanted.push(eb('event_type', 'in', types))
        if (session !== null) wanted.push(eb('session_number', '=', session))
        const end = (fn: 'min' | 'max') => eb.selectFrom('conversation_events as ends')
          .select(e => e.fn[fn]<number>('ends.seq').as('seq'))
          .where('ends.agent_key', '=', key)
        return eb.or([eb.and(wanted), eb('seq', '=', after + 1), eb('seq', '=', end('min')), eb('seq', '=', end('max'))])
      })
    }
    return query.orderBy('seq', 'asc').limit(PAGE).execute()
  }

  function globalPage (f: State, after: number): Promise<Array<EventRow & { agent_id: string }>> {
    let query = db.selectFrom('conversation_events as e').innerJoin('agents as a', 'a.agent_key', 'e.agent_key')
      .selectAll('e').select('a.agent_id').where('e.id', '>', after)
    if (f.agents !== null) query = query.where('a.agent_id', 'in', [...f.agents])
    if (f.types !== null) query = query.where('e.event_type', 'in', [...f.types])
    return query.orderBy('e.id', 'asc').limit(PAGE).execute()
  }

  function caughtUpMarker (f: State): LiveMessage {
    if (f.scope === 'agent') {
      return { kind: 'caught_up', data: { latest_seq: Math.max(events.getAgent(f.agentId)?.committed.lastSeq ?? 0, f.position) } }
    }
    const connected = (cluster?.connectedAgents() ?? hub.ids()).filter(id => f.agents === null || f.agents.has(id)).sort()
    return { kind: 'caught_up', data: { latest_id: latestId, connected } }
  }

  function start (f: State): Follower {
    followers.add(f)
    if (f.scope === 'agent') {
      let set = byAgent.get(f.agentId)
      if (set === undefined) {
        set = new Set()
        byAgent.set(f.agentId, set)
        const head = events.getAgent(f.agentId)?.committed.lastSeq ?? 0
        // several instances: events committed elsewhere never pass through here, so nothing is kept
        if (!clustered || cluster.owns(f.agentId)) recent.set(f.agentId, new Recent(head, bySeq, recentEvents, agentsBudget))
      }
      set.add(f)
    } else {
      if (globals.size === 0 && !clustered) recentGlobal = new Recent(latestId, byId, recentEvents, globalBudget)
      globals.add(f)
    }
    pump(f).catch((err: unknown) => log.error({ err }, 'live stream pump failed'))
    return { close: () => remove(f) }
  }

  function remove (f: State): void {
    f.closed = true
    f.buffer = []
    f.buffered = 0
    f.notices.clear()
    wake(f)
    f.leave()
    if (followers.delete(f)) {
      const set = byAgent.get(f.agentId)
      if (set !== undefined && set.delete(f) && set.size === 0) {
        byAgent.delete(f.agentId)
        recent.get(f.agentId)?.release()
        recent.delete(f.agentId)
      }
      if (globals.delete(f) && globals.size === 0) {
        recentGlobal?.release()
        recentGlobal = null
      }
    }
    if (followers.size === 0 && running === 0) {
      for (const w of idleWaiters.splice(0)) w()
    }
  }

  function newState (scope: 'agent' | 'global', agentId: string, position: number, fromStart: boolean,
    types: string[] | null, session: number | null, agents: string[] | null, sink: LiveSink): State {
    let leave: () => void = () => {}
    const gone = new Promise<void>((resolve) => { leave = resolve })
    return {
      scope,
      agentId,
      agents: agents === null ? null : new Set(agents),
      types: types === null ? null : new Set(types),
      session,
      position,
      fromStart,
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

  /** Follows one agent's log; the agent must be loaded (events.loadAgent) first. */
  function followAgent (opts: AgentFollow, sink: LiveSink): Follower {
    if (closing) throw new ClosingError()
    const agent = events.getAgent(opts.agentId)
    if (agent === undefined) throw new Error(`agent ${opts.agentId} is not loaded`)
    // read at the instant of registration: nothing committed after it can be missed
    const position = opts.after === 'latest' ? agent.committed.lastSeq : opts.after ?? 0
    return start(newState('agent', opts.agentId, position, opts.after === null, opts.types, opts.session, null, sink))
  }

  /** Follows every agent's log (or those named), by event id, with connect/disconnect notices. */
  function followAll (opts: GlobalFollow, sink: LiveSink): Follower {
    if (closing) throw new ClosingError()
    const position = opts.after === 'latest' ? latestId : opts.after ?? 0
    return start(newState('global', '', position, opts.after === null, opts.types, null, opts.agents, sink))
  }

  /** Resolves when no follower is left and every one of them has stopped working. */
  function idle (): Promise<void> {
    if (followers.size === 0 && running === 0) return Promise.resolve()
    return new Promise(resolve => idleWaiters.push(resolve))
  }

  /** Sends every follower its final message; those that cannot take it in time are cut off. */
  async function shutdown (): Promise<void> {
    closing = true
    const list = [...followers]
    for (const f of list) { f.closed = true; wake(f); f.leave() }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(list.map(f => f.sink.shutdown().catch(() => {}))),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, SHUTDOWN_WAIT_MS) })
    ])
    clearTimeout(timer)
    for (const f of list) {
      f.sink.abort()
      remove(f)
    }
  }

  async function init (): Promise<void> {
    const row = await db.selectFrom('conversation_events').select(eb => eb.fn.max<number>('id').as('id')).executeTakeFirst()
    latestId = Math.max(latestId, Number(row?.id ?? 0))
    knownThrough = latestId
  }

  function close (): void {
    clearInterval(heartbeat)
    offCommit()
    offChange()
    offNotice?.()
    offPresence?.()
    offOwnership?.()
    for (const f of [...followers]) {
      f.sink.abort()
      remove(f)
    }
  }

  return {
    init,
    followAgent,
    followAll,
    idle,
    shutdown,
    close,
    /** What is held right now; all zero once every stream has gone. */
    counts () {
      let buffered = 0
      for (const f of followers) buffered += f.buffered
      return {
        followers: followers.size,
        agents: byAgent.size,
        globals: globals.size,
        running,
        buffered,
        recent: recent.size + (recentGlobal === null ? 0 : 1),
        recentBytes: agentsBudget.bytes + globalBudget.bytes
      }
    },
    stats
  }
}

export type LiveHub = ReturnType<typeof createLiveHub>

export default fp(async function liveHub (fastify) {
  const live = createLiveHub(fastify.db, fastify.events, fastify.agents, fastify.config, fastify.log, fastify.cluster)
  await live.init()
  fastify.decorate('live', live)
  // before the server waits for open connections to end: a stream never ends by itself
  fastify.addHook('preClose', async () => { await live.shutdown() })
  fastify.addHook('onClose', async () => { live.close() })
}, { name: 'live-hub', dependencies: ['config', 'db', 'event-store', 'agent-hub', 'cluster'] })
