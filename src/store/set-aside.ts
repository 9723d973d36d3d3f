// The lines set aside by the writer (isolate.ts), read for operators: oldest first, paged by id.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { Static } from '@sinclair/typebox'
import type { SetAsideList, SetAsideQuery } from '../schemas/set-aside.js'

export async function listSetAside (db: Kysely<Database>, q: Static<typeof SetAsideQuery>): Promise<Static<typeof SetAsideList>> {
  let query = db.selectFrom('set_aside_lines as s').innerJoin('agents as a', 'a.agent_key', 's.agent_key')
    .select(['s.id', 'a.agent_id', 's.after_seq', 's.session_number', 's.line', 's.error', 's.created_at'])
    .orderBy('s.id', 'asc').limit(q.limit + 1)
  if (q.agent !== undefined) query = query.where('a.agent_id', '=', q.agent)
  if (q.after !== undefined) query = query.where('s.id', '>', q.after)
  const rows = await query.execute()
  const more = rows.length > q.limit
  const lines = rows.slice(0, q.limit).map(r => ({ ...r, id: Number(r.id) }))
  return { lines, next_cursor: more ? lines[lines.length - 1].id : null }
}

/** How many lines are set aside now (they stay until an operator deletes them from the table). */
export async function countSetAside (db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('set_aside_lines').select(eb => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}
