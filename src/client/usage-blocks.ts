// 5-hour blocks of usage, as ccusage counts them: pure, with no Node and no DOM, so `agentlog usage blocks` and the
// viewer's usage page (which loads it as ui/usage-blocks.js, compiled by web/tsconfig.shared.json) share one
// definition. Rows are GET /usage rows grouped by hour (and model), asked for in UTC.

/** The fields of a GET /usage row the blocks read (UsageRow has them all). */
export interface HourRow {
  hour?: string
  model?: string
  input_tokens: number
  output_tokens: number
  cache_creation_tokens: number
  cache_read_tokens: number
  total_tokens: number
  cost_usd: number | null
}

export interface UsageTotals { input_tokens: number, output_tokens: number, cache_creation_tokens: number, cache_read_tokens: number, total_tokens: number, cost_usd: number | null }

export interface Block<R extends HourRow = HourRow> {
  start: string
  end: string
  active: boolean
  models: string[]
  rows: R[]
  totals: UsageTotals
}

/** Token counts added up; the cost is null only when no row has one (an unpriced model is never $0). */
export function sumUsage (rows: Array<Pick<HourRow, keyof UsageTotals>>): UsageTotals {
  const t: UsageTotals = { input_tokens: 0, output_tokens: 0, cache_creation_tokens: 0, cache_read_tokens: 0, total_tokens: 0, cost_usd: null }
  for (const r of rows) {
    t.input_tokens += r.input_tokens
    t.output_tokens += r.output_tokens
    t.cache_creation_tokens += r.cache_creation_tokens
    t.cache_read_tokens += r.cache_read_tokens
    t.total_tokens += r.total_tokens
    if (r.cost_usd !== null) t.cost_usd = (t.cost_usd ?? 0) + r.cost_usd
  }
  return t
}

const HOUR = 3600000
export const BLOCK_HOURS = 5

/**
 * A block starts at the hour of the first usage after the previous block ended and lasts five hours; the one `now`
 * falls in is active. Rows are UTC hours (group_by=hour,model, tz=UTC).
 */
export function fiveHourBlocks<R extends HourRow> (rows: R[], now: number): Array<Block<R>> {
  const sorted = [...rows].filter(r => r.hour !== undefined).sort((a, b) => (a.hour as string) < (b.hour as string) ? -1 : 1)
  const blocks: Array<Block<R>> = []
  let current: Block<R> | null = null
  for (const r of sorted) {
    const at = Date.parse(`${r.hour as string}:00:00Z`)
    if (current === null || at >= Date.parse(current.end)) {
      current = { start: new Date(at).toISOString(), end: new Date(at + BLOCK_HOURS * HOUR).toISOString(), active: false, models: [], rows: [], totals: sumUsage([]) }
      blocks.push(current)
    }
    current.rows.push(r)
    if (r.model !== undefined && !current.models.includes(r.model)) current.models.push(r.model)
  }
  for (const b of blocks) {
    b.totals = sumUsage(b.rows)
    b.active = now >= Date.parse(b.start) && now < Date.parse(b.end)
  }
  return blocks
}
