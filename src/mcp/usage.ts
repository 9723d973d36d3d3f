// The usage tool's totals, behind one function: today from the sessions' cost and token counters; to be pointed at
// the usage engine (GET /usage) once it exists.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'

export interface UsageQuery {
  /** ISO-8601: sessions that ended after it (were active after it). */
  since?: string
  /** ISO-8601: sessions that started before it. */
  until?: string
  by: 'agent' | 'model'
  /** Only these agents; null: all. */
  agents: string[] | null
}

export interface UsageRow {
  /** The agent id, or the model (the one the agent reported at its last start; 'unknown' when it said none). */
  key: string
  sessions: number
  cost_usd: number
  input_tokens: number
  output_tokens: number
  cache_read_tokens: number
  cache_creation_tokens: number
}

export interface UsageTotals {
  by: 'agent' | 'model'
  since: string | null
  until: string | null
  rows: UsageRow[]
  total: Omit<UsageRow, 'key'>
}

const COUNTERS = ['sessions', 'cost_usd', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_creation_tokens'] as const

/** Sessions overlapping the period, summed per agent, then grouped by agent or model; the biggest cost first. */
export async function usageTotals (db: Kysely<Database>, q: UsageQuery): Promise<UsageTotals> {
  if (q.agents !== null && q.agents.length === 0) return { by: q.by, since: q.since ?? null, until: q.until ?? null, rows: [], total: zero() }
  let query = db.selectFrom('sessions as s').innerJoin('agents as a', 'a.agent_key', 's.agent_key')
    .select(eb => [
      'a.agent_id', 'a.info',
      eb.fn.countAll<number>().as('sessions'),
      eb.fn.sum<number>('s.cost_usd').as('cost_usd'),
      eb.fn.sum<number>('s.input_tokens').as('input_tokens'),
      eb.fn.sum<number>('s.output_tokens').as('output_tokens'),
      eb.fn.sum<number>('s.cache_read_tokens').as('cache_read_tokens'),
      eb.fn.sum<number>('s.cache_creation_tokens').as('cache_creation_tokens')
    ])
    .groupBy(['a.agent_id', 'a.info'])
  // times are stored as ISO-8601 UTC with milliseconds: text order is time order
  if (q.since !== undefined) query = query.where('s.ended_at', '>=', q.since)
  if (q.until !== undefined) query = query.where('s.started_at', '<', q.until)
  if (q.agents !== null) query = query.where('a.agent_id', 'in', q.agents)
  const perAgent = await query.execute()
  const groups = new Map<string, UsageRow>()
  const total = zero()
  for (const r of perAgent) {
    const key = q.by === 'agent' ? r.agent_id : modelOf(r.info)
    const row = groups.get(key) ?? { key, ...zero() }
    for (const c of COUNTERS) {
      row[c] += Number(r[c] ?? 0)
      total[c] += Number(r[c] ?? 0)
    }
    groups.set(key, row)
  }
  const rows = [...groups.values()].sort((a, b) => b.cost_usd - a.cost_usd || a.key.localeCompare(b.key))
  return { by: q.by, since: q.since ?? null, until: q.until ?? null, rows: rows.map(round), total: round(total) }
}

function zero (): Omit<UsageRow, 'key'> {
  return { sessions: 0, cost_usd: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0 }
}

function round<T extends { cost_usd: number }> (row: T): T {
  return { ...row, cost_usd: Math.round(row.cost_usd * 1e6) / 1e6 }
}

function modelOf (info: string | null): string {
  if (info === null) return 'unknown'
  const model = (JSON.parse(info) as { model?: unknown }).model
  return typeof model === 'string' && model !== '' ? model : 'unknown'
}
