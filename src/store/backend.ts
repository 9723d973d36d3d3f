// The database behind the write path, as one small interface: load an agent, commit a planned batch, prune,
// set a line aside. PostgreSQL goes through Kysely; SQLite runs the same statements prepared (sqlite-backend.ts).
import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { PlannedRow, SessionDelta, StoredEvent } from './types.js'
import { agentDayRows, fleetRows, USAGE_NUMBERS, type UsageDelta } from '../usage/counters.js'

/**
 * Steps run inside each PostgreSQL write transaction (several instances, see src/cluster/): `begin` before
 * anything is written (it may refuse agents this instance no longer owns by throwing), `beforeCommit` once
 * the events have their ids (a NOTIFY sent there is delivered if and only if the batch commits).
 */
export interface WriteHooks {
  /** Whether this instance writes the agent: the state of one it does not own is read again on each load. */
  owns: (agentId: string) => boolean
  begin: (trx: Transaction<Database>, agentIds: string[]) => Promise<void>
  beforeCommit: (trx: Transaction<Database>, events: StoredEvent[]) => Promise<void>
}

/** The agents-table columns the writer keeps up to date. */
export interface AgentUpdate {
  last_seq: number
  current_session: number
  cost_baseline_usd: number | null
  /** The per-model counters of the agent's current process, as JSON text (src/usage/counters.ts). */
  usage_baseline: string | null
  info: string | null
  last_seen_at: string | null
  last_connected_at: string | null
}

export interface CommitBatch {
  /** Every agent the batch touches (rows or not). */
  agentIds: string[]
  rows: PlannedRow[]
  sessions: SessionDelta[]
  /** Additions to usage_hours, one per agent, session, model and hour. */
  usage: UsageDelta[]
  agents: Array<{ key: number, update: AgentUpdate }>
}

export interface LoadedAgent {
  key: number
  agentId: string
  createdAt: string
  currentSession: number
  lastSeq: number
  costBaseline: number | null
  usageBaseline: string | null
  info: string | null
  lastSeenAt: string | null
  lastConnectedAt: string | null
  oldestSeq: number | null
  /** The uuids of the agent's last lines, oldest first (the dedupe window after a restart). */
  recentUuids: string[]
}

export interface SetAside {
  agentKey: number
  afterSeq: number
  sessionNumber: number
  line: string
  error: string
  createdAt: string
}

export interface StoreBackend {
  loadAgent: (agentId: string, create: boolean, window: number, now: string) => Promise<LoadedAgent | null>
  /** Writes the batch in one transaction; resolves with the ids of the rows, in order. */
  commit: (batch: CommitBatch) => Promise<number[]>
  /** Deletes an agent's events below `beforeSeq`. */
  prune: (agentKey: number, beforeSeq: number) => Promise<void>
  setAside: (entry: SetAside) => Promise<void>
  /**
   * Runs the batch's statements leaving nothing behind (PostgreSQL rolls them back; SQLite commits and undoes
   * the rows, see sqlite-backend.ts): whether the storage takes this write at all. The writer passes a copy with
   * its text replaced, to tell an item refused for what it holds from a storage that refuses everything.
   */
  probe: (batch: CommitBatch) => Promise<void>
  /** Runs queries of the caller's own in one transaction (exclusive writes). */
  transaction: <T>(fn: (trx: Transaction<Database>) => Promise<T>) => Promise<T>
  /**
   * Takes a batch while it commits the previous one, in order, and refuses the batches sent after one that failed
   * until reset() (the SQLite writer thread). Without it, one batch is written at a time.
   */
  pipelined?: boolean
  reset?: () => void
}

/** Adds totals to a session's row (created by its first event): imports, one session at a time. */
export function upsertSession (qc: Kysely<Database>, d: SessionDelta) {
  return qc.insertInto('sessions').values(d)
    .onConflict(oc => oc.columns(['agent_key', 'session_number']).doUpdateSet(eb => ({
      last_seq: eb.ref('excluded.last_seq'),
      ended_at: eb.ref('excluded.ended_at'),
      cost_usd: eb('sessions.cost_usd', '+', eb.ref('excluded.cost_usd')),
      input_tokens: eb('sessions.input_tokens', '+', eb.ref('excluded.input_tokens')),
      output_tokens: eb('sessions.output_tokens', '+', eb.ref('excluded.output_tokens')),
      cache_read_tokens: eb('sessions.cache_read_tokens', '+', eb.ref('excluded.cache_read_tokens')),
      cache_creation_tokens: eb('sessions.cache_creation_tokens', '+', eb.ref('excluded.cache_creation_tokens'))
    })))
}

/** Adds usage to usage_hours, usage_fleet_hours and usage_agent_days (imports; the writers have their own statements for it). */
export async function addUsageRows (qc: Kysely<Database>, rows: UsageDelta[]): Promise<void> {
  if (rows.length === 0) return
  const sums = <T extends 'usage_hours' | 'usage_fleet_hours' | 'usage_agent_days'>(table: T) => (eb: any) =>
    Object.fromEntries(USAGE_NUMBERS.map(k => [k, eb(`${table}.${k}`, '+', eb.ref(`excluded.${k}`))]))
  await qc.insertInto('usage_hours').values(rows)
    .onConflict(oc => oc.columns(['agent_key', 'session_number', 'model', 'hour']).doUpdateSet(sums('usage_hours')))
    .execute()
  await qc.insertInto('usage_fleet_hours').values(fleetRows(rows))
    .onConflict(oc => oc.columns(['hour', 'model']).doUpdateSet(sums('usage_fleet_hours')))
    .execute()
  await qc.insertInto('usage_agent_days').values(agentDayRows(rows))
    .onConflict(oc => oc.columns(['day', 'agent_key', 'model']).doUpdateSet(sums('usage_agent_days')))
    .execute()
}

/**
 * Runs one transaction and, when it fails, throws the failure itself: SQLite rolls back on its own after
 * SQLITE_FULL and I/O errors, and the ROLLBACK Kysely's transaction() sends then fails with "cannot rollback -
 * no transaction is active", which would hide the cause from the log and from /health/ready.
 */
export async function inTransaction<T> (db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  const trx = await db.startTransaction().execute()
  try {
    const result = await fn(trx)
    await trx.commit().execute()
    return result
  } catch (err) {
    await trx.rollback().execute().catch(() => {})
    throw err
  }
}

/** How far back from the head the window's uuids are looked for: a line makes at least one event. */
const WINDOW_SPAN_EVENTS_PER_LINE = 8

/** A planned row as the API and the live streams see it, once it has its id. */
export function toStored (r: PlannedRow, id: number): StoredEvent {
  return {
    id,
    agent_id: r.agent_id,
    session_number: r.session_number,
    seq: r.seq,
    event_type: r.event_type,
    content: r.content,
    metadata: r.metadata,
    created_at: r.created_at
  }
}

/** What both databases do with the same Kysely queries: loading an agent, pruning, setting aside, transactions. */
export type SharedQueries = Omit<StoreBackend, 'commit' | 'probe' | 'pipelined' | 'reset'>

export function createKyselyBackend (db: Kysely<Database>): SharedQueries {
  async function loadAgent (agentId: string, create: boolean, window: number, now: string): Promise<LoadedAgent | null> {
    let row = await db.selectFrom('agents').selectAll().where('agent_id', '=', agentId).executeTakeFirst()
    if (row === undefined && create) {
      await db.insertInto('agents').values({ agent_id: agentId, current_session: 0, last_seq: 0, created_at: now })
        .onConflict(oc => oc.column('agent_id').doNothing()).execute()
      row = await db.selectFrom('agents').selectAll().where('agent_id', '=', agentId).executeTakeFirstOrThrow()
    }
    if (row === undefined) return null
    const key = Number(row.agent_key)
    const oldest = await db.selectFrom('conversation_events').select('seq')
      .where('agent_key', '=', key).orderBy('seq', 'asc').limit(1).executeTakeFirst()
    const recent = window === 0
      ? []
      : await db.selectFrom('conversation_events').select('line_uuid')
        .where('agent_key', '=', key)
        .where('seq', '>', row.last_seq - window * WINDOW_SPAN_EVENTS_PER_LINE)
        .where('line_uuid', 'is not', null)
        .orderBy('seq', 'desc').limit(window).execute()
    return {
      key,
      agentId,
      createdAt: row.created_at,
      currentSession: row.current_session,
      lastSeq: row.last_seq,
      costBaseline: row.cost_baseline_usd,
      usageBaseline: row.usage_baseline ?? null,
      info: row.info,
      lastSeenAt: row.last_seen_at,
      lastConnectedAt: row.last_connected_at,
      oldestSeq: oldest?.seq ?? null,
      recentUuids: recent.map(r => r.line_uuid as string).reverse()
    }
  }

  async function prune (agentKey: number, beforeSeq: number): Promise<void> {
    await db.deleteFrom('conversation_events').where('agent_key', '=', agentKey).where('seq', '<', beforeSeq).execute()
  }

  async function setAside (e: SetAside): Promise<void> {
    await db.insertInto('set_aside_lines').values({
      agent_key: e.agentKey, after_seq: e.afterSeq, session_number: e.sessionNumber, line: e.line, error: e.error, created_at: e.createdAt
    }).execute()
  }

  return { loadAgent, prune, setAside, transaction: async (fn) => await inTransaction(db, fn) }
}
