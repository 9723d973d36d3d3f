// Which agents this instance writes. It holds a session advisory lock for each on its link (so the lock goes when
// the instance or that connection dies) and remembers the owner epoch it wrote into agents.owner_epoch on taking
// it: every write transaction checks that epoch (the fence), so an instance that lost an agent never writes for
// it again. Taking an agent asks its owner to hand it over (NOTIFY); losing one drops what is queued here.
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { EventStore } from '../store/event-store.js'
import type { AgentHub } from '../agent-hub.js'
import { CloseCodes } from '../protocol/close-codes.js'
import { httpError } from '../errors.js'
import type { Link } from './link.js'
import type { Notice } from './notices.js'

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
/** How long a closing agent socket may take before it is cut. */
const CLOSE_WAIT_MS = 2000

/**
 * The agents of a write this instance may not make: those it does not own, and those whose epoch in the
 * database (read under their row locks) is no longer the one it wrote when it took them.
 */
export function lostAgents (agentIds: string[], owned: ReadonlyMap<string, number>, epochs: ReadonlyMap<string, number>): string[] {
  return agentIds.filter(id => owned.get(id) === undefined || owned.get(id) !== epochs.get(id))
}

/**
 * After the link came back: an agent stays this instance's when it got the lock again and nobody took the agent
 * meanwhile (the epoch is still the one it wrote).
 */
export function keptAfterReconnect (locked: boolean, epochNow: number | undefined, epochTaken: number): boolean {
  return locked && epochNow === epochTaken
}

/**
 * What to do when another instance asks for an agent: hand it over (ours, not already being handed over), say
 * it is released at once (not ours, nor being taken here: the requester may try the lock), or nothing (the
 * hand-over or the taking under way ends it; the requester tries the lock again meanwhile).
 */
export function answerToRelease (here: { owned: boolean, releasing: boolean, acquiring: boolean }): 'hand over' | 'released' | 'nothing' {
  if (here.owned && !here.releasing) return 'hand over'
  return !here.owned && !here.acquiring ? 'released' : 'nothing'
}

interface ClosableSocket {
  readyState: number
  CLOSED: number
  once: (e: 'close', f: () => void) => unknown
  close: (code: number, reason: string) => void
  terminate: () => void
}

function closeSocket (socket: ClosableSocket, code: number, reason: string): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === socket.CLOSED) { resolve(); return }
    const timer = setTimeout(() => { socket.terminate(); resolve() }, CLOSE_WAIT_MS)
    socket.once('close', () => { clearTimeout(timer); resolve() })
    socket.close(code, reason)
  })
}

export interface OwnershipOptions {
  db: Kysely<Database>
  link: Link
  instanceId: string
  /** The database schema: locks are per schema, as are agents. */
  namespace: string
  notify: (notice: Notice) => Promise<void>
  /** The event store and agent hub, once the cluster is started. */
  attached: () => { events: EventStore, hub: AgentHub }
  stats: { handovers: number, released: number, fenced: number }
  log: FastifyBaseLogger
}

export function createOwnership ({ db, link, instanceId, namespace, notify, attached, stats, log }: OwnershipOptions) {
  /** agent → the epoch this instance wrote into agents.owner_epoch when it took the agent. */
  const owned = new Map<string, number>()
  const acquiring = new Map<string, Promise<void>>()
  const releasing = new Map<string, Promise<void>>()
  const releasedWaiters = new Map<string, Set<() => void>>()
  const listeners = new Set<OwnershipListener>()
  let closed = false

  async function tell (agentId: string, isOwned: boolean): Promise<void> {
    for (const l of listeners) {
      try { await l(agentId, isOwned) } catch (err) { log.error({ err, agentId, owned: isOwned }, 'ownership listener failed') }
    }
  }

  const lockKey = (agentId: string): string => `${namespace}/${agentId}`
  const owns = (agentId: string): boolean => owned.has(agentId)

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
      await attached().events.reload(agentId)
      // before the agent's socket opens here: e.g. its waiting approvals and remembered rules are in place
      await tell(agentId, true)
    } catch (err) {
      owned.delete(agentId)
      tell(agentId, false).catch(() => {})
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
    const answer = answerToRelease({ owned: owned.has(agentId), releasing: releasing.has(agentId), acquiring: acquiring.has(agentId) })
    if (answer === 'released') await notify({ t: 'released', from: instanceId, to: requester, agent: agentId })
    if (answer !== 'hand over') return
    const p = (async () => {
      const { events, hub } = attached()
      const conn = hub.get(agentId)
      if (conn !== undefined) await closeSocket(conn.socket, CloseCodes.REPLACED, 'replaced by a newer connection')
      await events.flush()
      owned.delete(agentId)
      await tell(agentId, false)
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

  /** The owner let go of the agent: whoever waits to take it tries the lock now. */
  function released (agentId: string): void {
    for (const w of releasedWaiters.get(agentId) ?? []) w()
  }

  /** The fence said another instance took the agent: drop what is queued here and send the agent back. */
  function lose (agentId: string): void {
    const { events, hub } = attached()
    if (!owned.has(agentId)) {
      // never ours (a write for an agent nobody took here): drop it, or the writer would retry it for ever
      events.forget(agentId).catch(() => {})
      return
    }
    owned.delete(agentId)
    tell(agentId, false).catch(() => {})
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
      if (keptAfterReconnect(ok, row?.owner_epoch, epoch)) continue
      if (ok) await unlock(agentId)
      lose(agentId)
    }
  }

  /** The fence, inside a write transaction: refuses (and gives up) the agents another instance took. */
  async function fence (trx: Transaction<Database>, agentIds: string[]): Promise<void> {
    const rows = await trx.selectFrom('agents').select(['agent_id', 'owner_epoch'])
      .where('agent_id', 'in', agentIds).forUpdate().execute()
    const lost = lostAgents(agentIds, owned, new Map(rows.map(r => [r.agent_id, r.owner_epoch])))
    if (lost.length > 0) {
      for (const id of lost) lose(id)
      throw new OwnershipLostError(lost)
    }
  }

  function onOwnership (listener: OwnershipListener): () => void {
    listeners.add(listener)
    return () => { listeners.delete(listener) }
  }

  /** No agent is taken any more; those held are let go with the link. */
  function close (): void {
    closed = true
    owned.clear()
  }

  return { owns, acquire, release, released, regain, fence, onOwnership, close }
}

export type Ownership = ReturnType<typeof createOwnership>
