// The live feed: followers of one agent's log (or of every agent's) are caught up from the database, then fed
// from each commit; a follower that falls behind goes back to reading instead of losing or hoarding events.
//
// The hand-over has no seam because a follower is registered, and buffers what is committed, before its first
// read: an event is either committed before a read starts (the read sees it) or announced after the follower
// was registered (the buffer has it). The overlap is dropped by position: seq for one agent, id for all.
// Only committed events are announced (onCommit runs after the transaction), so nothing a restart would lose
// is ever sent. Reads come from the database, or from the newest events kept in memory while someone follows
// (shared by all followers, bounded), so a crowd that falls behind in a burst does not re-read the log.
//
// Here the parts are composed: follower.ts (what a follower is sent), pump.ts (each follower's loop), pages.ts
// (the reads), recent.ts (the windows in memory), commit-order.ts (several instances), registry.ts (who follows).
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { AgentHub } from '../agent-hub.js'
import type { Cluster } from '../cluster/cluster.js'
import type { Config } from '../config.js'
import type { StoredEvent } from '../schemas/events.js'
import type { EventStore } from '../store/event-store.js'
import { KnownCommits } from './commit-order.js'
import { deliver, type FollowerState, newFollower, reread, wake } from './follower.js'
import type { AgentNoticeData, LiveMessage, LiveSink } from './messages.js'
import { agentPage, globalPage, latestEventId } from './pages.js'
import { createPump, type LiveStats } from './pump.js'
import { RecentWindows } from './recent.js'
import { FollowerRegistry } from './registry.js'

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

/** A follower as its transport holds it. */
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

/** How long a shutdown waits for followers to take their final message before cutting them off. */
const SHUTDOWN_WAIT_MS = 1000

export function createLiveHub (db: Kysely<Database>, events: EventStore, hub: AgentHub, config: Config, log: FastifyBaseLogger,
  cluster: Cluster | null = null) {
  const followers = new FollowerRegistry()
  // kept only while someone follows; enough for several commits of a burst
  const recent = new RecentWindows(10 * Math.max(config.subscriberBuffer, config.batchMax))
  const idleWaiters: Array<() => void> = []
  let latestId = 0
  let closing = false
  const stats: LiveStats = { fellBehind: 0, truncations: 0, delivered: 0, pagesFromMemory: 0, pagesFromDatabase: 0 }

  const pump = createPump({
    recent: f => f.scope === 'agent' ? recent.agent(f.agentId) : recent.global,
    read: (f, after) => f.scope === 'agent'
      ? agentPage(db, f.agentId, events.getAgent(f.agentId)?.key ?? -1, after, f)
      : globalPage(db, after, f),
    caughtUp,
    stopped: remove,
    stats,
    log
  })

  // Several instances: events committed elsewhere are announced by a commit notice, and the followers concerned
  // read them from the database (positions make that exact). This instance's own commits are handed to followers
  // as on one instance, with two guards: an agent's followers read from the database when this instance takes
  // the agent over (what the previous owner committed may not be announced yet), and the global followers (by id)
  // are handed a commit only when every commit before it is known here (commit-order.ts); otherwise they read
  // from the database too.
  const clustered = cluster !== null
  const known = new KnownCommits()

  const offNotice = cluster?.onCommitNotice((ranges, local, order) => {
    if (local) return // already seen through onCommit
    if (ranges === null || order === null) {
      // notices may have been missed: everyone reads from the database, which has everything up to now
      known.settle()
      for (const f of followers.all) reread(f)
      return
    }
    known.record(order.prev, order.max)
    if (order.max > latestId) latestId = order.max
    for (const [agentId] of ranges) stale(agentId)
  })
  // connections on other instances (this one's own come from the agent hub at once)
  const offPresence = cluster?.onPresence((agentId, state, instance) => { if (instance !== cluster.instanceId) changed(agentId, state) })
  // an agent's recent events are complete in memory only while this instance writes it
  const offOwnership = cluster?.onOwnership((agentId, owned) => {
    recent.dropAgent(agentId)
    const head = events.getAgent(agentId)?.committed.lastSeq
    if (owned && followers.follows(agentId) && head !== undefined) recent.openAgent(agentId, head)
    for (const f of followers.ofAgent(agentId)) reread(f)
  })

  /** New events of the agent are committed: its followers and the global ones read them from the database. */
  function stale (agentId: string): void {
    for (const f of followers.ofAgent(agentId)) reread(f)
    for (const f of followers.globals) if (f.agents === null || f.agents.has(agentId)) reread(f)
  }

  const offCommit = events.onCommit((batch) => {
    for (const e of batch) if (e.id > latestId) latestId = e.id
    const order = cluster?.lastLocalCommit ?? null
    const inOrder = order === null || known.record(order.prev, order.max)
    if (followers.all.size === 0) return
    if (clustered && !inOrder) {
      // an earlier commit elsewhere is not announced yet: the global followers read from the database
      for (const f of followers.globals) reread(f)
    }
    // each followed agent's events of the batch, in seq order
    const runs = new Map<string, StoredEvent[]>()
    for (const event of batch) {
      recent.add(event)
      if (!followers.follows(event.agent_id)) continue
      const run = runs.get(event.agent_id)
      if (run === undefined) runs.set(event.agent_id, [event])
      else run.push(event)
    }
    for (const [agentId, run] of runs) stats.fellBehind += deliver(followers.ofAgent(agentId), run, 'seq', config.subscriberBuffer)
    if (inOrder) stats.fellBehind += deliver(followers.globals, batch, 'id', config.subscriberBuffer)
  })

  const offChange = hub.onChange((agentId, state) => { changed(agentId, state) })

  function changed (agentId: string, state: 'connected' | 'disconnected'): void {
    const notice: AgentNoticeData = { agent_id: agentId, state, at: new Date().toISOString() }
    for (const f of followers.globals) {
      if (f.closed || (f.agents !== null && !f.agents.has(agentId))) continue
      // re-inserted, so the map stays in the order the agents last changed
      f.notices.delete(agentId)
      f.notices.set(agentId, notice)
      wake(f)
    }
  }

  const heartbeat = setInterval(() => {
    for (const f of followers.all) if (!f.closed) f.sink.heartbeat()
  }, config.heartbeatMs)
  heartbeat.unref()

  function caughtUp (f: FollowerState): LiveMessage {
    if (f.scope === 'agent') {
      return { kind: 'caught_up', data: { latest_seq: Math.max(events.getAgent(f.agentId)?.committed.lastSeq ?? 0, f.position) } }
    }
    const connected = (cluster?.connectedAgents() ?? hub.ids()).filter(id => f.agents === null || f.agents.has(id)).sort()
    return { kind: 'caught_up', data: { latest_id: latestId, connected } }
  }

  function start (f: FollowerState): Follower {
    if (followers.add(f)) {
      // several instances: events committed elsewhere never pass through here, so nothing is kept, except an
      // agent's while this instance owns it
      if (f.scope === 'agent') {
        if (!clustered || cluster.owns(f.agentId)) recent.openAgent(f.agentId, events.getAgent(f.agentId)?.committed.lastSeq ?? 0)
      } else if (!clustered) {
        recent.openGlobal(latestId)
      }
    }
    pump.start(f)
    return { close: () => remove(f) }
  }

  function remove (f: FollowerState): void {
    f.closed = true
    f.buffer = []
    f.buffered = 0
    f.notices.clear()
    wake(f)
    f.leave()
    if (followers.delete(f)) {
      if (f.scope === 'agent') recent.dropAgent(f.agentId)
      else recent.dropGlobal()
    }
    if (followers.all.size === 0 && pump.running === 0) {
      for (const w of idleWaiters.splice(0)) w()
    }
  }

  /** Follows one agent's log; the agent must be loaded (events.loadAgent) first. */
  function followAgent (opts: AgentFollow, sink: LiveSink): Follower {
    if (closing) throw new ClosingError()
    const agent = events.getAgent(opts.agentId)
    if (agent === undefined) throw new Error(`agent ${opts.agentId} is not loaded`)
    // read at the instant of registration: nothing committed after it can be missed
    const position = opts.after === 'latest' ? agent.committed.lastSeq : opts.after ?? 0
    return start(newFollower({
      scope: 'agent', agentId: opts.agentId, position, fromStart: opts.after === null, types: opts.types, session: opts.session, agents: null
    }, sink))
  }

  /** Follows every agent's log (or those named), by event id, with connect/disconnect notices. */
  function followAll (opts: GlobalFollow, sink: LiveSink): Follower {
    if (closing) throw new ClosingError()
    const position = opts.after === 'latest' ? latestId : opts.after ?? 0
    return start(newFollower({
      scope: 'global', agentId: '', position, fromStart: opts.after === null, types: opts.types, session: null, agents: opts.agents
    }, sink))
  }

  /** Resolves when no follower is left and every one of them has stopped working. */
  function idle (): Promise<void> {
    if (followers.all.size === 0 && pump.running === 0) return Promise.resolve()
    return new Promise(resolve => idleWaiters.push(resolve))
  }

  /** Sends every follower its final message; those that cannot take it in time are cut off. */
  async function shutdown (): Promise<void> {
    closing = true
    const list = [...followers.all]
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
    latestId = Math.max(latestId, await latestEventId(db))
    known.through = latestId
  }

  function close (): void {
    clearInterval(heartbeat)
    offCommit()
    offChange()
    offNotice?.()
    offPresence?.()
    offOwnership?.()
    for (const f of [...followers.all]) {
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
      for (const f of followers.all) buffered += f.buffered
      return {
        followers: followers.all.size,
        agents: followers.agents,
        globals: followers.globals.size,
        running: pump.running,
        buffered,
        recent: recent.count,
        recentBytes: recent.bytes
      }
    },
    stats
  }
}

export type LiveHub = ReturnType<typeof createLiveHub>
