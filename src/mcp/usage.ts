// The usage tool's totals: the usage engine's per-model figures (src/usage/query.ts, what GET /usage answers), in
// UTC, per agent or per model, for the agents the caller may read.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import { queryUsage, RangeError400 } from '../usage/query.js'
import { roundUsd } from '../usd.js'

export interface UsageQuery {
  /** ISO-8601: usage from the UTC hour this falls in. */
  since?: string
  /** ISO-8601: usage of the hours that start before it. */
  until?: string
  by: 'agent' | 'model'
  /** Whether the caller may read this agent's usage. */
  visible: (agentId: string) => boolean
  /** Only this agent. */
  agent?: string
  /** The current time (tests; default: the clock). */
  now?: number
}

export interface UsageRow {
  /** The agent id, or the model as the CLI or the transcript named it. */
  key: string
  /** The sessions with usage in the period. */
  sessions: number
  /** Reported and computed cost; null when none of the row's models has a price. */
  cost_usd: number | null
  cost_source: 'reported' | 'computed' | 'mixed' | 'none'
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
  /** Models whose tokens are counted but that have no price (their cost is in no cost_usd). */
  unpriced_models: string[]
}

type Acc = Omit<UsageRow, 'key' | 'sessions' | 'cost_source' | 'cost_usd'> & {
  cost: number, priced: boolean, reported: boolean, computed: boolean, sessions: Set<string>
}

const TOKENS = ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_creation_tokens'] as const

/** Usage in the period per agent, session and model, summed by agent or model; the biggest cost first. */
export async function usageTotals (db: Kysely<Database>, q: UsageQuery): Promise<UsageTotals> {
  let result
  try {
    result = await queryUsage(db, { groupBy: ['agent', 'session', 'model'], from: q.since, to: q.until, agent: q.agent, now: q.now })
  } catch (err) {
    // the tool's caller reads this and corrects its arguments
    if (err instanceof RangeError400) throw new UsageArgumentError(err.message)
    throw err
  }
  const groups = new Map<string, Acc>()
  const total = zero()
  const unpriced = new Set<string>()
  for (const r of result.usage) {
    const agent = r.agent_id as string
    if (!q.visible(agent)) continue
    const key = q.by === 'agent' ? agent : r.model as string
    if (r.cost_source === 'none') unpriced.add(r.model as string)
    let acc = groups.get(key)
    if (acc === undefined) { acc = zero(); groups.set(key, acc) }
    for (const into of [acc, total]) {
      for (const k of TOKENS) into[k] += r[k]
      into.cost += r.cost_usd ?? 0
      into.priced ||= r.cost_usd !== null
      into.reported ||= r.cost_source === 'reported' || r.cost_source === 'mixed'
      into.computed ||= r.cost_source === 'computed' || r.cost_source === 'mixed'
      into.sessions.add(`${agent}\u0000${r.session_number ?? ''}`)
    }
  }
  const rows = [...groups.entries()].map(([key, acc]) => ({ key, ...out(acc) }))
    .sort((a, b) => (b.cost_usd ?? 0) - (a.cost_usd ?? 0) || a.key.localeCompare(b.key))
  return {
    by: q.by,
    since: result.from,
    until: result.to,
    rows,
    total: out(total),
    // of the agents the caller may read only
    unpriced_models: [...unpriced].sort()
  }
}

/** A since or until the usage engine refused (not a time, since after until). */
export class UsageArgumentError extends Error {}

function zero (): Acc {
  return { cost: 0, priced: false, reported: false, computed: false, sessions: new Set(), input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0 }
}

function out (acc: Acc): Omit<UsageRow, 'key'> {
  return {
    sessions: acc.sessions.size,
    cost_usd: acc.priced ? roundUsd(acc.cost) : null,
    cost_source: acc.reported && acc.computed ? 'mixed' : acc.reported ? 'reported' : acc.computed ? 'computed' : 'none',
    input_tokens: acc.input_tokens,
    output_tokens: acc.output_tokens,
    cache_read_tokens: acc.cache_read_tokens,
    cache_creation_tokens: acc.cache_creation_tokens
  }
}
