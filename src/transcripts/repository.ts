// The queries imports run inside their exclusive write: file positions, what matching sessions already hold,
// and the inserts. Kysely on both databases; every call takes the write's transaction.
import type { Kysely, Transaction } from 'kysely'
import type { Database, SessionsTable, TranscriptFilesTable } from '../../db/schema.js'
import type { StoredEvent } from '../schemas/events.js'
import { addUsageRows, upsertSession } from '../store/backend.js'
import type { UsageDelta } from '../usage/counters.js'
import { type EventColumns, rowToEvent } from '../store/event-rows.js'

export type Trx = Transaction<Database>

/** An event to insert, before its id; its metadata already JSON text (as stored). */
export type NewEvent = Omit<StoredEvent, 'id' | 'metadata'> & Pick<EventColumns, 'metadata'>

export type SessionTotals = Pick<SessionsTable, 'cost_usd' | 'input_tokens' | 'output_tokens' | 'cache_read_tokens' | 'cache_creation_tokens'>

const INSERT_CHUNK = 500

/** Events and sessions carry the agent's integer key (see db/migrations/0002_lean_events.ts). */
export async function keyOf (q: Kysely<Database>, agentId: string): Promise<number> {
  const row = await q.selectFrom('agents').select('agent_key').where('agent_id', '=', agentId).executeTakeFirstOrThrow()
  return Number(row.agent_key)
}

export async function filePosition (q: Kysely<Database>, agentId: string, file: string): Promise<TranscriptFilesTable | null> {
  const row = await q.selectFrom('transcript_files').selectAll().where('agent_id', '=', agentId).where('file', '=', file).executeTakeFirst()
  return row === undefined ? null : normalizeFile(row)
}

export function normalizeFile (row: TranscriptFilesTable): TranscriptFilesTable {
  return {
    ...row,
    byte_offset: Number(row.byte_offset),
    lines: Number(row.lines),
    cost_usd: Number(row.cost_usd),
    input_tokens: Number(row.input_tokens),
    output_tokens: Number(row.output_tokens),
    cache_read_tokens: Number(row.cache_read_tokens),
    cache_creation_tokens: Number(row.cache_creation_tokens)
  }
}

export async function saveFilePosition (trx: Trx, row: TranscriptFilesTable): Promise<void> {
  const { agent_id: _agentId, file: _file, ...rest } = row
  await trx.insertInto('transcript_files').values(row)
    .onConflict(oc => oc.columns(['agent_id', 'file']).doUpdateSet(rest))
    .execute()
}

/** Sessions of the agent whose time span meets [from, to]. */
export async function sessionsBetween (trx: Trx, agentId: string, from: string, to: string): Promise<Array<{ session_number: number, last_seq: number }>> {
  return await trx.selectFrom('sessions').select(['session_number', 'last_seq'])
    .where('agent_key', '=', await keyOf(trx, agentId)).where('ended_at', '>=', from).where('started_at', '<=', to)
    .execute()
}

export async function sessionExists (trx: Trx, agentId: string, session: number): Promise<boolean> {
  const row = await trx.selectFrom('sessions').select('session_number')
    .where('agent_key', '=', await keyOf(trx, agentId)).where('session_number', '=', session).executeTakeFirst()
  return row !== undefined
}

/** One session's events after a seq, in pages, for what they already hold. */
export async function * sessionEvents (trx: Trx, agentId: string, session: number, afterSeq: number) {
  const key = await keyOf(trx, agentId)
  // a session is a seq range: its bounds come from the sessions table
  const bounds = await trx.selectFrom('sessions').select(['first_seq', 'last_seq'])
    .where('agent_key', '=', key).where('session_number', '=', session).executeTakeFirst()
  if (bounds === undefined) return
  let after = Math.max(afterSeq, bounds.first_seq - 1)
  for (;;) {
    const rows = await trx.selectFrom('conversation_events').select(['seq', 'event_type', 'content', 'metadata'])
      .where('agent_key', '=', key).where('seq', '>', after).where('seq', '<=', bounds.last_seq)
      .where('session_number', '=', session)
      .orderBy('seq', 'asc').limit(2000).execute()
    for (const r of rows) yield r
    if (rows.length < 2000) return
    after = rows[rows.length - 1].seq
  }
}

export async function insertEvents (trx: Trx, rows: NewEvent[]): Promise<StoredEvent[]> {
  const out: StoredEvent[] = []
  const keys = new Map<string, number>()
  for (const r of rows) if (!keys.has(r.agent_id)) keys.set(r.agent_id, await keyOf(trx, r.agent_id))
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK)
    const inserted = await trx.insertInto('conversation_events')
      .values(chunk.map(({ agent_id: agentId, ...r }) => ({ ...r, agent_key: keys.get(agentId) as number })))
      .returning(['id', 'seq']).execute()
    const ids = new Map(inserted.map(r => [r.seq, Number(r.id)]))
    for (const r of chunk) out.push(rowToEvent({ ...r, id: ids.get(r.seq) as number }, r.agent_id))
  }
  return out
}

/** Adds events (and totals) to a session's row, creating it with its first event. */
export async function addToSession (trx: Trx, agentId: string, session: number, span: { first_seq: number, last_seq: number, started_at: string, ended_at: string } | null, totals: SessionTotals): Promise<void> {
  if (span === null) {
    await trx.updateTable('sessions').set(eb => ({
      cost_usd: eb('cost_usd', '+', totals.cost_usd),
      input_tokens: eb('input_tokens', '+', totals.input_tokens),
      output_tokens: eb('output_tokens', '+', totals.output_tokens),
      cache_read_tokens: eb('cache_read_tokens', '+', totals.cache_read_tokens),
      cache_creation_tokens: eb('cache_creation_tokens', '+', totals.cache_creation_tokens)
    })).where('agent_key', '=', await keyOf(trx, agentId)).where('session_number', '=', session).execute()
    return
  }
  await upsertSession(trx, { agent_key: await keyOf(trx, agentId), session_number: session, ...span, ...totals }).execute()
}

/** A session's row but for the agent's key. */
export type SessionRowValues = Omit<SessionsTable, 'agent_key'>

/** Sets a session's row to exactly these values (an exported session moved to this server). */
export async function setSession (trx: Trx, agentId: string, s: SessionRowValues): Promise<void> {
  const { session_number: _session, ...rest } = s
  await trx.insertInto('sessions').values({ agent_key: await keyOf(trx, agentId), ...s })
    .onConflict(oc => oc.columns(['agent_key', 'session_number']).doUpdateSet(rest))
    .execute()
}

/** Which of these imported messages (message.id + requestId) were counted already, by any import. */
export async function countedMessages (trx: Trx, keys: string[]): Promise<Set<string>> {
  const out = new Set<string>()
  for (let i = 0; i < keys.length; i += INSERT_CHUNK) {
    const rows = await trx.selectFrom('usage_messages').select('message_key')
      .where('message_key', 'in', keys.slice(i, i + INSERT_CHUNK)).execute()
    for (const r of rows) out.add(r.message_key)
  }
  return out
}

/** Records the messages counted and adds their usage (one row per session, model and hour). */
export async function addUsage (trx: Trx, agentKey: number, keys: string[], rows: UsageDelta[]): Promise<void> {
  for (let i = 0; i < keys.length; i += INSERT_CHUNK) {
    await trx.insertInto('usage_messages').values(keys.slice(i, i + INSERT_CHUNK).map(k => ({ message_key: k, agent_key: agentKey })))
      .onConflict(oc => oc.column('message_key').doNothing()).execute()
  }
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) await addUsageRows(trx, rows.slice(i, i + INSERT_CHUNK))
}
