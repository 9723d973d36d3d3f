// Usage as counted at the source (pure): a result's per-model counters and their growth since the process's
// previous result, an imported message's tokens, the UTC hour a figure is filed under, and a batch's additions to
// the pre-aggregated rows (one per agent, session, model and hour).
import type { UsageAgentDaysTable, UsageFleetHoursTable, UsageHoursTable } from '../../db/schema.js'
import { roundUsd } from '../usd.js'

/** Tokens and cost of one model; cost_usd null when nothing reported one. */
export interface ModelCounters {
  input_tokens: number
  output_tokens: number
  cache_creation_tokens: number
  cache_creation_1h_tokens: number
  cache_read_tokens: number
  web_search_requests: number
  cost_usd: number | null
}

/** Per model, as a result's `modelUsage` holds it (cumulative for the CLI process). */
export type ModelUsage = Record<string, ModelCounters>

/** A row of usage_hours before it is added to the stored one. */
export type UsageDelta = UsageHoursTable

/** Larger counters are not believed (a broken line must not poison the totals). */
const MAX_TOKENS = 1e13
const MAX_USD = 1e7

type Obj = Record<string, unknown>

function isObj (value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function count (value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= MAX_TOKENS ? Math.floor(value) : 0
}

function usd (value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_USD ? value : null
}

/** A model name as stored: at most 200 characters. */
function modelName (name: string): string | null {
  const trimmed = name.trim()
  return trimmed.length === 0 || trimmed.length > 200 ? null : trimmed
}

/** A `result` line's `modelUsage`, or null when it has none. */
export function resultModelUsage (modelUsage: unknown): ModelUsage | null {
  if (!isObj(modelUsage)) return null
  const out: ModelUsage = {}
  for (const [name, m] of Object.entries(modelUsage)) {
    const model = modelName(name)
    if (model === null || !isObj(m)) continue
    out[model] = {
      input_tokens: count(m.inputTokens),
      output_tokens: count(m.outputTokens),
      cache_creation_tokens: count(m.cacheCreationInputTokens),
      cache_creation_1h_tokens: 0,
      cache_read_tokens: count(m.cacheReadInputTokens),
      web_search_requests: count(m.webSearchRequests),
      cost_usd: usd(m.costUSD)
    }
  }
  return out
}

const COUNTED = ['input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens', 'web_search_requests'] as const

/**
 * What a result adds, per model: the growth of each model's counters since `baseline` (the same process's
 * previous result). A model whose counters went down belongs to a process the server was not told about (or a
 * counter reset by /clear): it counts from zero.
 */
export function modelUsageDelta (current: ModelUsage, baseline: ModelUsage | null): ModelUsage {
  const out: ModelUsage = {}
  for (const [model, now] of Object.entries(current)) {
    const before = baseline?.[model]
    const dropped = before !== undefined && (COUNTED.some(k => now[k] < before[k]) ||
      (now.cost_usd !== null && before.cost_usd !== null && now.cost_usd < before.cost_usd))
    const base = before === undefined || dropped ? null : before
    const d: ModelCounters = { ...now }
    if (base !== null) {
      for (const k of COUNTED) d[k] = now[k] - base[k]
      d.cost_usd = now.cost_usd === null ? null : roundUsd(now.cost_usd - (base.cost_usd ?? 0))
    }
    if (COUNTED.every(k => d[k] === 0) && (d.cost_usd ?? 0) === 0) continue
    out[model] = d
  }
  return out
}

/** One assistant message of an imported transcript: its model, tokens, reported cost if any, and its dedupe key. */
export interface MessageUsage {
  /** message.id + ':' + requestId (or requestRef; message.id alone without either); null: no message.id. */
  key: string | null
  model: string
  counters: ModelCounters
}

/**
 * The usage an `assistant` transcript record carries (`message.usage`, `message.model`, an older version's
 * `costUSD`), or null for any other record. The transcript repeats a message's usage on each of its content
 * blocks: the key lets the caller count it once.
 */
export function transcriptMessageUsage (record: Obj): MessageUsage | null {
  if (record.type !== 'assistant' || !isObj(record.message)) return null
  const message = record.message
  const usage = message.usage
  if (!isObj(usage)) return null
  const model = typeof message.model === 'string' ? modelName(message.model) : null
  if (model === null) return null
  const id = typeof message.id === 'string' ? message.id : null
  // newer versions write requestRef where older ones wrote requestId
  const requestId = typeof record.requestId === 'string' ? record.requestId : typeof record.requestRef === 'string' ? record.requestRef : null
  const split = isObj(usage.cache_creation) ? usage.cache_creation : null
  const creation = count(usage.cache_creation_input_tokens)
  const oneHour = split === null ? 0 : Math.min(creation, count(split.ephemeral_1h_input_tokens))
  const server = isObj(usage.server_tool_use) ? usage.server_tool_use : null
  return {
    key: id === null ? null : requestId === null ? id : `${id}:${requestId}`,
    model,
    counters: {
      input_tokens: count(usage.input_tokens),
      output_tokens: count(usage.output_tokens),
      cache_creation_tokens: creation,
      cache_creation_1h_tokens: oneHour,
      cache_read_tokens: count(usage.cache_read_input_tokens),
      web_search_requests: server === null ? 0 : count(server.web_search_requests),
      cost_usd: usd(record.costUSD)
    }
  }
}

/** The UTC hour an ISO-8601 time falls in, as usage_hours files it ('YYYY-MM-DDTHH'). */
export function hourOf (iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) throw new Error(`not a time: ${iso}`)
  return d.toISOString().slice(0, 13)
}

/** How a figure's cost is known: reported by the CLI, computed from the price table, or not at all. */
export type CostKind = 'reported' | 'computed' | 'unpriced'

/** A batch's additions to usage_hours, one row per agent, session, model and hour. */
export class UsageRows {
  private readonly rows = new Map<string, UsageDelta>()

  add (agentKey: number, session: number, at: string, model: string, c: ModelCounters, cost: { kind: CostKind, usd: number }): void {
    const hour = hourOf(at)
    const id = `${agentKey}\u0000${session}\u0000${model}\u0000${hour}`
    let row = this.rows.get(id)
    if (row === undefined) {
      row = {
        agent_key: agentKey,
        session_number: session,
        model,
        hour,
        input_tokens: 0,
        output_tokens: 0,
        cache_creation_tokens: 0,
        cache_creation_1h_tokens: 0,
        cache_read_tokens: 0,
        web_search_requests: 0,
        reported_cost_usd: 0,
        computed_cost_usd: 0,
        reported_count: 0,
        computed_count: 0,
        unpriced_count: 0
      }
      this.rows.set(id, row)
    }
    for (const k of COUNTED) row[k] += c[k]
    if (cost.kind === 'reported') { row.reported_cost_usd = roundUsd(row.reported_cost_usd + cost.usd); row.reported_count++ } else if (cost.kind === 'computed') { row.computed_cost_usd = roundUsd(row.computed_cost_usd + cost.usd); row.computed_count++ } else row.unpriced_count++
  }

  list (): UsageDelta[] {
    return [...this.rows.values()]
  }
}

/** The numbers of a usage row, in the order the writers bind them. */
export const USAGE_NUMBERS = [
  'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens', 'web_search_requests',
  'reported_cost_usd', 'computed_cost_usd', 'reported_count', 'computed_count', 'unpriced_count'
] as const

/**
 * A batch's rows summed per model and hour (usage_fleet_hours), in key order: transactions of several instances
 * take the rows' locks in the same order.
 */
export function fleetRows (rows: ReadonlyArray<Omit<UsageDelta, 'model' | 'hour'> & { model: string, hour: string }>): UsageFleetHoursTable[] {
  const out = new Map<string, UsageFleetHoursTable>()
  for (const r of rows) {
    const id = `${r.hour}\u0000${r.model}`
    let f = out.get(id)
    if (f === undefined) {
      f = { model: r.model, hour: r.hour, ...Object.fromEntries(USAGE_NUMBERS.map(k => [k, 0])) } as UsageFleetHoursTable
      out.set(id, f)
    }
    for (const k of USAGE_NUMBERS) f[k] += r[k]
  }
  return [...out.entries()].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0).map(e => e[1])
}

/** A batch's rows summed per agent, model and UTC day (usage_agent_days), in key order like fleetRows. */
export function agentDayRows (rows: ReadonlyArray<Omit<UsageDelta, 'model' | 'hour'> & { model: string, hour: string }>): UsageAgentDaysTable[] {
  const out = new Map<string, UsageAgentDaysTable>()
  for (const r of rows) {
    const day = r.hour.slice(0, 10)
    const id = `${day}\u0000${String(r.agent_key).padStart(12, '0')}\u0000${r.model}`
    let d = out.get(id)
    if (d === undefined) {
      d = { day, agent_key: r.agent_key, model: r.model, ...Object.fromEntries(USAGE_NUMBERS.map(k => [k, 0])) } as UsageAgentDaysTable
      out.set(id, d)
    }
    for (const k of USAGE_NUMBERS) d[k] += r[k]
  }
  return [...out.entries()].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0).map(e => e[1])
}
