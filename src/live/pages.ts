// The reads a follower catches up with: keyset pages of one agent's log (by seq) or of every agent's (by id).
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { StoredEvent } from '../schemas/events.js'
import { rowToEvent } from '../store/event-rows.js'

/** Rows per catch-up read. */
export const PAGE = 500

export interface AgentPageFilter {
  types: Set<string> | null
  session: number | null
}

export interface GlobalPageFilter {
  agents: Set<string> | null
  types: Set<string> | null
}

/**
 * The next page of one agent's log (its integer key) after `after`. With a filter, the rows at after+1 and at both
 * ends of the retained log come too, whatever they are, so the first row still tells whether anything between
 * `after` and the oldest retained event was pruned (a log is gapless apart from its pruned start).
 */
export async function agentPage (db: Kysely<Database>, agentId: string, key: number, after: number, f: AgentPageFilter): Promise<StoredEvent[]> {
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
  const rows = await query.orderBy('seq', 'asc').limit(PAGE).execute()
  return rows.map(r => rowToEvent(r, agentId))
}

/** The next page of every agent's log (or of those named) after the event id `after`. */
export async function globalPage (db: Kysely<Database>, after: number, f: GlobalPageFilter): Promise<StoredEvent[]> {
  let query = db.selectFrom('conversation_events as e').innerJoin('agents as a', 'a.agent_key', 'e.agent_key')
    .selectAll('e').select('a.agent_id').where('e.id', '>', after)
  if (f.agents !== null) query = query.where('a.agent_id', 'in', [...f.agents])
  if (f.types !== null) query = query.where('e.event_type', 'in', [...f.types])
  const rows = await query.orderBy('e.id', 'asc').limit(PAGE).execute()
  return rows.map(r => rowToEvent(r, r.agent_id))
}

/** The newest event id committed (0 for an empty log). */
export async function latestEventId (db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('conversation_events').select(eb => eb.fn.max<number>('id').as('id')).executeTakeFirst()
  return Number(row?.id ?? 0)
}
