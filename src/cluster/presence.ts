// Who is connected where, across instances (this one included): this instance announces its agents' sockets
// (agents.connected_instance and a presence notice) and hears the others'. An instance is alive while its link
// is (its session in pg_stat_activity); a sweep shows the agents of dead instances disconnected.
import type { FastifyBaseLogger } from 'fastify'
import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { AgentHub } from '../agent-hub.js'
import { within } from '../within.js'
import type { Link } from './link.js'
import type { Notice } from './notices.js'

export type PresenceListener = (agentId: string, state: 'connected' | 'disconnected', instance: string) => void
type PresenceNotice = Extract<Notice, { t: 'presence' }>

/** How other instances see this one in pg_stat_activity: this, then the instance id. */
export const APP_PREFIX = 'agentlog '
/** How often dead instances are looked for (their agents shown disconnected). */
const SWEEP_MS = 2000
/** How long shutdown waits to mark this instance's agents disconnected (their rows may be locked by an outage). */
const CLOSE_CLEAR_MS = 1000

/**
 * The instances alive, from the application names of the database's sessions that start with APP_PREFIX;
 * this one counts while its link is up.
 */
export function liveFromSessions (applicationNames: string[], self: string, linkUp: boolean): Set<string> {
  const names = new Set(applicationNames.map(name => name.slice(APP_PREFIX.length)))
  if (linkUp) names.add(self)
  return names
}

/**
 * What a presence notice does to where the agent is shown: connected on the notice's instance, disconnected,
 * or nothing (null) for a disconnect from an instance the agent is no longer shown on (it moved meanwhile).
 */
export function presenceChange (where: string | undefined, notice: Pick<PresenceNotice, 'from' | 'state'>): 'connected' | 'disconnected' | null {
  if (notice.state === 'connected') return 'connected'
  return where === notice.from ? 'disconnected' : null
}

/** What the sweep concludes: the agents shown on instances that are not alive, with that instance. */
export function onDeadInstances (where: Iterable<[agentId: string, instance: string]>, alive: ReadonlySet<string>): Array<[agentId: string, instance: string]> {
  return [...where].filter(([, instance]) => !alive.has(instance))
}

export interface PresenceOptions {
  db: Kysely<Database>
  link: Link
  instanceId: string
  notify: (notice: Notice) => Promise<void>
  log: FastifyBaseLogger
}

export function createPresence ({ db, link, instanceId, notify, log }: PresenceOptions) {
  /** Where every connected agent is shown, across instances (this one included). */
  const where = new Map<string, string>()
  let alive = new Set<string>([instanceId])
  let sweepTimer: NodeJS.Timeout | null = null
  const listeners = new Set<PresenceListener>()

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
    return liveFromSessions(found.rows.map(r => r.name), instanceId, link.up)
  }

  /** Agents of instances that died are shown disconnected (their sockets died with them). */
  async function sweep (): Promise<void> {
    alive = await liveInstances()
    for (const [agentId, instance] of onDeadInstances(where, alive)) {
      where.delete(agentId)
      for (const l of listeners) l(agentId, 'disconnected', instance)
    }
  }

  return {
    /** Any notice from an instance says it is alive. */
    heardFrom (instance: string): void {
      alive.add(instance)
    },
    heard (notice: PresenceNotice): void {
      const change = presenceChange(where.get(notice.agent), notice)
      if (change === null) return
      if (change === 'connected') where.set(notice.agent, notice.from)
      else where.delete(notice.agent)
      for (const l of listeners) l(notice.agent, notice.state, notice.from)
    },
    /** Says again that these agents are connected here (those this instance still owns, asked one by one). */
    async reannounce (agentIds: string[], owns: (agentId: string) => boolean): Promise<void> {
      for (const agentId of agentIds) {
        if (!owns(agentId)) continue
        await announce(agentId, 'connected')
      }
    },
    liveInstances,
    async start (hub: AgentHub): Promise<void> {
      alive = await liveInstances()
      const rows = await db.selectFrom('agents').select(['agent_id', 'connected_instance'])
        .where('connected_instance', 'is not', null).execute()
      for (const r of rows) {
        if (r.connected_instance !== null && alive.has(r.connected_instance)) where.set(r.agent_id, r.connected_instance)
      }
      hub.onChange((agentId, state) => {
        announce(agentId, state).catch((err: unknown) => log.warn({ err, agentId, state }, 'could not announce an agent connection'))
      })
      sweepTimer = setInterval(() => { sweep().catch((err: unknown) => log.debug({ err }, 'instance sweep failed')) }, SWEEP_MS)
      sweepTimer.unref()
    },
    async close (): Promise<void> {
      if (sweepTimer !== null) clearInterval(sweepTimer)
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
    },
    onPresence (listener: PresenceListener): () => void {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    /** The instance holding the agent's socket, anywhere; null when it is connected nowhere. */
    locate (agentId: string): string | null {
      const instance = where.get(agentId)
      return instance !== undefined && alive.has(instance) ? instance : null
    },
    connectedAgents (): string[] {
      return [...where.entries()].filter(([, instance]) => alive.has(instance)).map(([agentId]) => agentId)
    }
  }
}

export type Presence = ReturnType<typeof createPresence>
