// Several instances on one PostgreSQL serving one fleet. PostgreSQL is the coordinator:
// - ownership: the instance an agent is connected to holds a session advisory lock for it on its own connection
//   (src/cluster/link.ts), so the lock goes when the instance dies; each new owner bumps agents.owner_epoch and
//   every write transaction checks it (the fence), so an instance that lost the lock can never write again;
// - hand-over: a newer connection elsewhere asks the owner (NOTIFY) to close the old socket (4001), commit what
//   it received and let go; the new owner then reads the agent's state afresh;
// - commit order: write transactions take one transaction-level advisory lock, so event ids are committed in
//   increasing order across instances and a reader that follows ids misses nothing;
// - commit notices (NOTIFY inside the write transaction) tell every instance's followers to read new events;
// - operator commands sent to another instance are carried to the owner through instance_commands.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { Config } from '../config.js'
import type { EventStore, WriteHooks } from '../store/event-store.js'
import type { AgentHub } from '../agent-hub.js'
import { httpError } from '../errors.js'
import { CloseCodes } from '../protocol/close-codes.js'
import { within } from '../within.js'
import { createLink } from './link.js'
import { type CommitOrder, type CommitRange, commitNotices, decodeNotice, encodeNotice, isFor, type Notice } from './notices.js'

/** An operator command's result, as the owner answered it. */
export interface CommandResult {
  status: number
  body: unknown
}

export type CommandExecutor = (agentId: string, body: unknown) => Promise<CommandResult>

/** ranges null: notices may have been missed (the connection was down), so anything may be new. */
export type CommitNoticeListener = (ranges: CommitRange[] | null, local: boolean, order: CommitOrder | null) => void
export type PresenceListener = (agentId: string, state: 'connected' | 'disconnected', instance: string) => void
/** This instance took an agent (its state just read afresh) or let it go; a taking waits for what it returns. */
export type OwnershipListener = (agentId: string, owned: boolean) => void | Promise<void>

export class OwnershipLostError extends Error {
  constructor (agents: string[]) {
    super(`another instance now owns agent(s) ${agents.join(', ')}; their queued writes are dropped`)
    this.name = 'OwnershipLostError'
  }
}

/** How long a new connection waits for the previous owner to let go before it is refused (503). */
const ACQUIRE_TIMEOUT_MS = 15000
/** Between two attempts at an agent's lock when no "released" notice came (the owner may have died). */
const ACQUIRE_RETRY_MS = 200
/** How often dead instances are looked for (their agents shown disconnected). */
const SWEEP_MS = 2000
/** How long a closing agent socket may take before it is cut. */
const CLOSE_WAIT_MS = 2000
/** How long shutdown waits to mark this instance's agents disconnected (their rows may be locked by an outage). */
const CLOSE_CLEAR_MS = 1000
const APP_PREFIX = 'agentlog '

export interface ClusterOptions {
  db: Kysely<Database>
  config: Config & { databaseUrl: string }
  log: FastifyBaseLogger
}

export function createCluster ({ db, config, log }: ClusterOptions) {
  const instanceId = config.instanceId
  const namespace = config.databaseSchema ?? 'public'
  const channel = `agentlog_${namespace}`
  let events: EventStore | null = null
  let hub: AgentHub | null = null
  /** agent → the epoch this instance wrote into agents.owner_epoch when it took the agent. */
  const owned = new Map<string, number>()
  const acquiring = new Map<string, Promise<void>>()
  const releasing = new Map<string, Promise<void>>()
  const releasedWaiters = new Map<string, Set<() => void>>()
  const replyWaiters = new Map<string, () => void>()
  const executors = new Map<string, CommandExecutor>()
  const commitListeners = new Set<CommitNoticeListener>()
  const presenceListeners = new Set<PresenceListener>()
  const ownershipListeners = new Set<OwnershipListener>()
  async function ownership (agentId: string, owned: boolean): Promise<void> {
    for (const l of ownershipListeners) {
      try { await l(agentId, owned) } catch (err) { log.error({ err, agentId, owned }, 'ownership listener failed') }
    }
  }
  /** Where every connected agent is, across instances (this one included). */
  const presence = new Map<string, string>()
  let alive = new Set<string>([instanceId])
  let sweepTimer: NodeJS.Timeout | null = null
  let closed = false
  /** The highest event id committed before the transaction being written (read under the commit-order lock). */
  let prevMax = 0
  /** The order of this instance's last committed transaction, for its commit listeners. */
  let lastLocalCommit: CommitOrder | null = null
  const stats = { handovers: 0, released: 0, fenced: 0, forwarded: 0, served: 0, reconnects: 0 }

  const link = createLink({
    url: config.databaseUrl,
    schema: config.databaseSchema,
    applicationName: APP_PREFIX + instanceId,
    channel,
    onNotice: (payload) => {
      const notice = decodeNotice(payload)
      if (notice === null || !isFor(notice, instanceId)) return
      handle(notice).catch((err: unknown) => log.error({ err, notice: notice.t }, 'instance notice failed'))
    },
    onUp: regain,
    onDown: () => { stats.reconnects++ },
    log
  })

  const lockKey = (agentId: string): string => `${namespace}/${agentId}`

  function deps (): { events: EventStore, hub: AgentHub } {
    if (events === null || hub === null) throw new Error('cluster used before the event store and agent hub were attached')
    return { events, hub }
  }

  async function notify (notice: Notice): Promise<void> {
    // on the instance's own connection: notices from one instance arrive in the order it sent them
    await link.query('select pg_notify($1, $2)', [channel, encodeNotice(notice)])
  }

  // ---- notices ----

  async function handle (notice: Notice): Promise<void> {
    alive.add(notice.from)
    switch (notice.t) {
      case 'commit':
        for (const l of commitListeners) l(notice.ranges, notice.from === instanceId, notice.order ?? null)
        return
      case 'presence':
        if (notice.state === 'connected') {
          presence.set(notice.agent, notice.from)
        } else if (presence.get(notice.agent) === notice.from) {
          presence.delete(notice.agent)
        } else {
          return
        }
        for (const l of presenceListeners) l(notice.agent, notice.state, notice.from)
        return
      case 'release':
        await release(notice.agent, notice.from)
        return
      case 'released':
        for (const w of releasedWaiters.get(notice.agent) ?? []) w()
        return
      case 'command':
        await serve(notice.id, notice.from)
        return
      case 'reply':
        replyWaiters.get(notice.id)?.()
    }
  }

  // ---- ownership ----

  async function tryLock (agentId: string): Promise<boolean> {
    const rows = await link.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 0)) as ok', [lockKey(agentId)])
    return rows[0].ok
  }

  async function unlock (agentId: string): Promise<void> {
    if (!link.up) return // the connection's end took the lock with it
    await link.query('select pg_advisory_unlock(hashtextextended($1, 0))', [lockKey(agentId)])
  }

  function waitReleased (agentId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = releasedWaiters.get(agentId)
      if (set === undefined) { set = new Set(); releasedWaiters.set(agentId, set) }
      const done = (): void => {
        clearTimeout(timer)
        set.delete(done)
        if (set.size === 0) releasedWaiters.delete(agentId)
        resolve()
      }
      const timer = setTimeout(done, ms)
      set.add(done)
    })
  }

  /**
   * Makes this instance the agent's writer: asks the current owner to let go (it commits what it received
   * first), takes the agent's lock, bumps the fencing epoch and reads the agent's state afresh.
   */
  async function acquire (agentId: string): Promise<void> {
    for (;;) {
      const pending = releasing.get(agentId) ?? acquiring.get(agentId)
      if (pending === undefined) break
      await pending.catch(() => {})
    }
    if (owned.has(agentId)) return
    const p = takeOver(agentId)
    acquiring.set(agentId, p)
    try {
      await p
    } finally {
      acquiring.delete(agentId)
    }
  }

  async function takeOver (agentId: string): Promise<void> {
    const started = Date.now()
    const deadline = started + ACQUIRE_TIMEOUT_MS
    await db.insertInto('agents').values({ agent_id: agentId, current_session: 0, last_seq: 0, created_at: new Date().toISOString() })
      .onConflict(oc => oc.column('agent_id').doNothing()).execute()
    let asked = false
    for (;;) {
      if (closed) throw httpError(503, 'the server is shutting down', 'unavailable')
      if (link.up && await tryLock(agentId)) break
      if (Date.now() > deadline) {
        throw httpError(503, `agent ${JSON.stringify(agentId)} is still held by another instance`, 'agent_busy')
      }
      const row = await db.selectFrom('agents').select('owner_instance').where('agent_id', '=', agentId).executeTakeFirst()
      const owner = row?.owner_instance ?? null
      if (owner !== null && owner !== instanceId && link.up) {
        asked = true
        await notify({ t: 'release', from: instanceId, to: owner, agent: agentId })
      }
      await waitReleased(agentId, ACQUIRE_RETRY_MS)
    }
    try {
      const row = await db.updateTable('agents')
        .set(eb => ({ owner_instance: instanceId, owner_epoch: eb('owner_epoch', '+', 1) }))
        .where('agent_id', '=', agentId)
        .returning('owner_epoch')
        .executeTakeFirstOrThrow()
      owned.set(agentId, row.owner_epoch)
      await deps().events.reload(agentId)
      // before the agent's socket opens here: e.g. its waiting approvals and remembered rules are in place
      await ownership(agentId, true)
    } catch (err) {
      owned.delete(agentId)
      ownership(agentId, false).catch(() => {})
      await unlock(agentId).catch(() => {})
      throw err
    }
    if (asked) {
      stats.handovers++
      log.info({ agentId, ms: Date.now() - started }, 'agent taken over from another instance')
    }
  }

  /** Another instance wants the agent: close its socket here, commit what it sent, let go. */
  async function release (agentId: string, requester: string): Promise<void> {
    if (!owned.has(agentId) || releasing.has(agentId)) {
      // not ours (any more): the requester may try the lock at once
      if (!owned.has(agentId) && !acquiring.has(agentId)) await notify({ t: 'released', from: instanceId, to: requester, agent: agentId })
      return
    }
    const p = (async () => {
      const { events, hub } = deps()
      const conn = hub.get(agentId)
      if (conn !== undefined) await closeSocket(conn.socket, CloseCodes.REPLACED, 'replaced by a newer connection')
      await events.flush()
      owned.delete(agentId)
      await ownership(agentId, false)
      await events.forget(agentId)
      await unlock(agentId)
      stats.released++
      await notify({ t: 'released', from: instanceId, to: requester, agent: agentId })
      log.info({ agentId, to: requester }, 'agent handed over to another instance')
    })()
    releasing.set(agentId, p)
    try {
      await p
    } finally {
      releasing.delete(agentId)
    }
  }

  function closeSocket (socket: { readyState: number, CLOSED: number, once: (e: 'close', f: () => void) => unknown, close: (code: number, reason: string) => void, terminate: () => void }, code: number, reason: string): Promise<void> {
    return new Promise((resolve) => {
      if (socket.readyState === socket.CLOSED) { resolve(); return }
      const timer = setTimeout(() => { socket.terminate(); resolve() }, CLOSE_WAIT_MS)
      socket.once('close', () => { clearTimeout(timer); resolve() })
      socket.close(code, reason)
    })
  }

  /** The fence said another instance took the agent: drop what is queued here and send the agent back. */
  function lose (agentId: string): void {
    const { events, hub } = deps()
    if (!owned.has(agentId)) {
      // never ours (a write for an agent nobody took here): drop it, or the writer would retry it for ever
      events.forget(agentId).catch(() => {})
      return
    }
    owned.delete(agentId)
    ownership(agentId, false).catch(() => {})
    stats.fenced++
    log.warn({ agentId }, 'agent owned by another instance now; dropping its queued writes here')
    events.forget(agentId).catch(() => {})
    unlock(agentId).catch(() => {})
    // the CLI reconnects, and is served by whoever owns the agent now
    hub.get(agentId)?.socket.close(CloseCodes.GOING_AWAY, 'the agent is served by another instance now; reconnect')
  }

  /** After a reconnection: the locks went with the old connection; take them again or give the agents up. */
  async function regain (): Promise<void> {
    for (const [agentId, epoch] of [...owned]) {
      const ok = await tryLock(agentId)
      const row = await db.selectFrom('agents').select('owner_epoch').where('agent_id', '=', agentId).executeTakeFirst()
      if (ok && row?.owner_epoch === epoch) continue
      if (ok) await unlock(agentId)
      lose(agentId)
    }
    // commits announced while this instance was not listening are read now
    for (const l of commitListeners) l(null, false, null)
    // other instances may have taken this one for dead meanwhile: say again where its agents are
    if (hub !== null) {
      for (const agentId of hub.ids()) {
        if (!owned.has(agentId)) continue
        await db.updateTable('agents').set({ connected_instance: instanceId }).where('agent_id', '=', agentId).execute()
        await notify({ t: 'presence', from: instanceId, agent: agentId, state: 'connected' })
      }
    }
  }

  const writeHooks: WriteHooks = {
    owns: (agentId) => owned.has(agentId),
    async begin (trx: Transaction<Database>, agentIds: string[]) {
      // ids are handed out in commit order across instances: a follower reading by id misses nothing
      await sql`select pg_advisory_xact_lock(hashtextextended(${namespace + '/commit-order'}, 0))`.execute(trx)
      const before = await sql<{ m: number | string | null }>`select max(id) as m from conversation_events`.execute(trx)
      prevMax = Number(before.rows[0]?.m ?? 0)
      const rows = await trx.selectFrom('agents').select(['agent_id', 'owner_epoch'])
        .where('agent_id', 'in', agentIds).forUpdate().execute()
      const epochs = new Map(rows.map(r => [r.agent_id, r.owner_epoch]))
      const lost = agentIds.filter(id => owned.get(id) === undefined || owned.get(id) !== epochs.get(id))
      if (lost.length > 0) {
        for (const id of lost) lose(id)
        throw new OwnershipLostError(lost)
      }
    },
    async beforeCommit (trx, stored) {
      const order = { prev: prevMax, max: stored.reduce((m, e) => Math.max(m, e.id), prevMax) }
      lastLocalCommit = order
      for (const payload of commitNotices(instanceId, stored, order)) {
        await sql`select pg_notify(${channel}, ${payload})`.execute(trx)
      }
    }
  }

  // ---- presence ----

  async function announce (agentId: string, state: 'connected' | 'disconnected'): Promise<void> {
    if (state === 'connected') {
      await db.updateTable('agents').set({ connected_instance: instanceId }).where('agent_id', '=', agentId).execute()
    } else {
      await db.updateTable('agents').set({ connected_instance: null })
        .where('agent_id', '=', agentId).where('connected_instance', '=', instanceId).execute()
    }
    await notify({ t: 'presence', from: instanceId, agent: agentId, state })
  }

  async function liveInstances (): Promise<Set<string>> {
    // an instance is alive while its own connection is: PostgreSQL ends a dead peer's session (and its locks)
    const found = await sql<{ name: string }>`select application_name as name from pg_stat_activity where application_name like ${APP_PREFIX + '%'}`.execute(db)
    const names = new Set(found.rows.map(r => r.name.slice(APP_PREFIX.length)))
    if (link.up) names.add(instanceId)
    return names
  }

  /** Agents of instances that died are shown disconnected (their sockets died with them). */
  async function sweep (): Promise<void> {
    alive = await liveInstances()
    for (const [agentId, instance] of [...presence]) {
      if (alive.has(instance)) continue
      presence.delete(agentId)
      for (const l of presenceListeners) l(agentId, 'disconnected', instance)
    }
  }

  // ---- commands ----

  /**
   * Where an operator command for the agent runs: null here (this instance owns the agent, or nobody alive
   * does), else the owner's answer.
   */
  async function route (agentId: string, kind: string, body: unknown, waitMs: number): Promise<CommandResult | null> {
    if (owned.has(agentId)) return null
    const row = await db.selectFrom('agents').select('owner_instance').where('agent_id', '=', agentId).executeTakeFirst()
    const owner = row?.owner_instance ?? null
    if (owner === null || owner === instanceId) return null
    if (!(await liveInstances()).has(owner)) return null
    return await forward(owner, agentId, kind, body, waitMs)
  }

  async function forward (target: string, agentId: string, kind: string, body: unknown, waitMs: number): Promise<CommandResult> {
    const id = randomUUID()
    stats.forwarded++
    await db.insertInto('instance_commands').values({
      id, target_instance: target, agent_id: agentId, request: JSON.stringify({ kind, body }), reply: null, created_at: new Date().toISOString()
    }).execute()
    let timer: NodeJS.Timeout | undefined
    try {
      const answered = new Promise<boolean>((resolve) => {
        replyWaiters.set(id, () => resolve(true))
        timer = setTimeout(() => resolve(false), waitMs)
      })
      await notify({ t: 'command', from: instanceId, to: target, id })
      const ok = await answered
      const row = await db.selectFrom('instance_commands').select('reply').where('id', '=', id).executeTakeFirst()
      if (!ok || row?.reply === null || row?.reply === undefined) {
        throw httpError(503, `the instance that owns agent ${JSON.stringify(agentId)} did not answer in time`, 'owner_unavailable')
      }
      return JSON.parse(row.reply) as CommandResult
    } finally {
      clearTimeout(timer)
      replyWaiters.delete(id)
      await db.deleteFrom('instance_commands').where('id', '=', id).execute().catch(() => {})
    }
  }

  async function serve (id: string, from: string): Promise<void> {
    const row = await db.selectFrom('instance_commands').select(['agent_id', 'request']).where('id', '=', id).executeTakeFirst()
    if (row === undefined) return // the sender gave up
    const { kind, body } = JSON.parse(row.request) as { kind: string, body: unknown }
    const executor = executors.get(kind)
    let result: CommandResult
    try {
      if (executor === undefined) throw httpError(501, `command ${kind} is not known to this instance`, 'not_implemented')
      stats.served++
      result = await executor(row.agent_id, body)
    } catch (err) {
      const e = err as { statusCode?: number, code?: string, message?: string }
      const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500
      if (status >= 500) log.error({ err, kind, agentId: row.agent_id }, 'forwarded command failed')
      result = {
        status,
        body: {
          error: STATUS_CODES[status] ?? 'Error',
          message: status >= 500 ? 'internal error; see the server log' : String(e.message),
          code: typeof e.code === 'string' && /^[a-z_]+$/.test(e.code) ? e.code : 'internal'
        }
      }
    }
    await db.updateTable('instance_commands').set({ reply: JSON.stringify(result) }).where('id', '=', id).execute()
    await notify({ t: 'reply', from: instanceId, to: from, id })
  }

  // ---- life cycle ----

  async function start (store: EventStore, agents: AgentHub): Promise<void> {
    events = store
    hub = agents
    await link.start()
    alive = await liveInstances()
    const rows = await db.selectFrom('agents').select(['agent_id', 'connected_instance'])
      .where('connected_instance', 'is not', null).execute()
    for (const r of rows) {
      if (r.connected_instance !== null && alive.has(r.connected_instance)) presence.set(r.agent_id, r.connected_instance)
    }
    hub.onChange((agentId, state) => {
      announce(agentId, state).catch((err: unknown) => log.warn({ err, agentId, state }, 'could not announce an agent connection'))
    })
    sweepTimer = setInterval(() => { sweep().catch((err: unknown) => log.debug({ err }, 'instance sweep failed')) }, SWEEP_MS)
    sweepTimer.unref()
  }

  async function close (): Promise<void> {
    closed = true
    if (sweepTimer !== null) clearInterval(sweepTimer)
    owned.clear()
    // its agents are no longer connected here: said now, not left to the others' view of which instances live
    // (PostgreSQL can list a closed instance's session for a moment after it ended). Never waited on past about
    // a second: during a storage outage the rows are locked, and the other instances' sweep clears them later.
    const cleared = db.transaction().execute(async (trx) => {
      await sql.raw(`set local lock_timeout = ${CLOSE_CLEAR_MS}`).execute(trx)
      await trx.updateTable('agents').set({ connected_instance: null }).where('connected_instance', '=', instanceId).execute()
    }).catch((err: unknown) => { log.warn({ err }, 'could not clear this instance\'s connected agents on shutdown') })
    if (!await within(cleared, CLOSE_CLEAR_MS + 250)) {
      log.warn(`could not clear this instance's connected agents on shutdown: no answer within ${CLOSE_CLEAR_MS} ms`)
    }
    await link.close()
  }

  return {
    instanceId,
    writeHooks,
    start,
    close,
    acquire,
    route,
    owns: (agentId: string) => owned.has(agentId),
    /** Set just before each commit: valid in the store's commit listeners, which run right after it. */
    get lastLocalCommit () { return lastLocalCommit },
    /** Registers what this instance does when another one forwards it a command of this kind. */
    serveCommand (kind: string, executor: CommandExecutor): void {
      executors.set(kind, executor)
    },
    onCommitNotice (listener: CommitNoticeListener): () => void {
      commitListeners.add(listener)
      return () => { commitListeners.delete(listener) }
    },
    onOwnership (listener: OwnershipListener): () => void {
      ownershipListeners.add(listener)
      return () => { ownershipListeners.delete(listener) }
    },
    onPresence (listener: PresenceListener): () => void {
      presenceListeners.add(listener)
      return () => { presenceListeners.delete(listener) }
    },
    /** The instance holding the agent's socket, anywhere; null when it is connected nowhere. */
    locate (agentId: string): string | null {
      const where = presence.get(agentId)
      return where !== undefined && alive.has(where) ? where : null
    },
    connectedAgents (): string[] {
      return [...presence.entries()].filter(([, where]) => alive.has(where)).map(([agentId]) => agentId)
    },
    liveInstances,
    get linkUp () { return link.up },
    stats
  }
}

export type Cluster = ReturnType<typeof createCluster>
