// The usage page's numbers, pure (no DOM): the days of a period in the browser's time zone, GET /usage rows
// pivoted into a series per model or per token type, rows ranked by cost, and how a cost reads.
import type { UsageRow } from '../../src/client/index.js'

/** YYYY-MM-DD of a local date. */
export function localDay (d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`
}

/** The `days` local days that end with today's, oldest first. */
export function lastDays (days: number, now: Date): string[] {
  const out: string[] = []
  for (let i = days - 1; i >= 0; i--) out.push(localDay(new Date(now.getFullYear(), now.getMonth(), now.getDate() - i)))
  return out
}

export interface Series {
  label: string
  /** one value per day; null: a model with no price that day (its cost unknown, never $0) */
  values: Array<number | null>
}

/** Cost per day, a series per model (most expensive first); an unpriced model's days are null. */
export function costByModel (rows: UsageRow[], days: string[]): Series[] {
  const index = new Map(days.map((d, i) => [d, i]))
  const byModel = new Map<string, Array<number | null>>()
  for (const r of rows) {
    const i = index.get(r.day ?? '')
    if (i === undefined || r.model === undefined) continue
    let values = byModel.get(r.model)
    if (values === undefined) {
      values = days.map(() => 0)
      byModel.set(r.model, values)
    }
    values[i] = r.cost_usd === null ? null : (values[i] ?? 0) + r.cost_usd
  }
  const total = (v: Array<number | null>): number => v.reduce<number>((s, x) => s + (x ?? 0), 0)
  return [...byModel].map(([label, values]) => ({ label, values })).sort((a, b) => total(b.values) - total(a.values) || (a.label < b.label ? -1 : 1))
}

export const TOKEN_TYPES = [
  { key: 'input_tokens', label: 'Input' },
  { key: 'output_tokens', label: 'Output' },
  { key: 'cache_creation_tokens', label: 'Cache write' },
  { key: 'cache_read_tokens', label: 'Cache read' }
] as const

/** Tokens per day, a series per type. */
export function tokensByType (rows: UsageRow[], days: string[]): Series[] {
  const index = new Map(days.map((d, i) => [d, i]))
  return TOKEN_TYPES.map(({ key, label }) => {
    const values = days.map(() => 0)
    for (const r of rows) {
      const i = index.get(r.day ?? '')
      if (i !== undefined) values[i] += r[key]
    }
    return { label, values }
  })
}

/** The most expensive rows first (an unpriced row by its tokens, after the priced ones), at most n. */
export function top (rows: UsageRow[], n: number): UsageRow[] {
  return [...rows].sort((a, b) => (b.cost_usd ?? -1) - (a.cost_usd ?? -1) || b.total_tokens - a.total_tokens).slice(0, n)
}

/** A cost as it reads on the page: null (no model of it has a price) is "no price", never $0. */
export function usd (n: number | null): string {
  if (n === null) return 'no price'
  if (n === 0) return '$0.00'
  return n < 1 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`
}
