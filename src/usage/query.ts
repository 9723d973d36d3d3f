// Usage as GET /usage answers it (and anything else that asks: the CLI through the API, other engines directly):
// the pre-aggregated rows of usage_hours in the range, summed by the database per UTC hour and the other keys,
// then rolled up into the caller's local days, weeks and months. Never a scan of the log.
import { type Kysely, PostgresAdapter, sql } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { UsageGroup, UsageResultType, UsageRowType } from '../schemas/usage.js'
import { checkTimeZone, constantOffsetMinutes, dayBuckets, hourRange, localBuckets, parseBound, RangeError400, splitRange, type LocalBuckets, type Stretch } from './buckets.js'
import { roundUsd } from '../usd.js'

export { RangeError400 } from './buckets.js'

export interface UsageQueryOptions {
  groupBy: UsageGroup[]
  /** A date (YYYY-MM-DD, in tz) or an ISO-8601 time; undefined: from the beginning. */
  from?: string
  /** A date (inclusive) or an ISO-8601 time (exclusive); undefined: now. */
  to?: string
  tz?: string
  /** An agent id, or a glob with `*`. */
  agent?: string
  /** The current time (tests; default: the clock). */
  now?: number
}

const SUMS = [
  'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens', 'web_search_requests',
  'reported_cost_usd', 'computed_cost_usd', 'reported_count', 'computed_count', 'unpriced_count'
] as const
type Sums = Record<typeof SUMS[number], number>

function zero (): Sums {
  return Object.fromEntries(SUMS.map(k => [k, 0])) as Sums
}

function add (into: Sums, from: Sums): void {
  for (const k of SUMS) into[k] += from[k]
}

type Figures = Omit<UsageRowType, 'day' | 'week' | 'month' | 'hour' | 'agent_id' | 'session_number' | 'model' | 'project' | 'runner' | 'host'>

function figures (s: Sums): Figures {
  const priced = s.reported_count + s.computed_count
  return {
    input_tokens: s.input_tokens,
    output_tokens: s.output_tokens,
    cache_creation_tokens: s.cache_creation_tokens,
    cache_creation_1h_tokens: s.cache_creation_1h_tokens,
    cache_read_tokens: s.cache_read_tokens,
    web_search_requests: s.web_search_requests,
    total_tokens: s.input_tokens + s.output_tokens + s.cache_creation_tokens + s.cache_read_tokens,
    cost_usd: priced === 0 ? null : roundUsd(s.reported_cost_usd + s.computed_cost_usd),
    reported_cost_usd: roundUsd(s.reported_cost_usd),
    computed_cost_usd: roundUsd(s.computed_cost_usd),
    cost_source: s.reported_count > 0 && s.computed_count > 0
      ? 'mixed'
      : s.reported_count > 0 ? 'reported' : s.computed_count > 0 ? 'computed' : 'none'
  }
}

/** The directory the agent told at its init, if it did. */
function initCwd (info: string | null): string | null {
  if (info === null) return null
  try {
    const cwd = (JSON.parse(info) as Record<string, unknown>).cwd
    return typeof cwd === 'string' && cwd !== '' ? cwd : null
  } catch {
    return null
  }
}

/**
 * The project an agent works on: the last folder of its working directory (from its init; else where a runner
 * started it; else where its imported transcripts ran).
 */
export function projectOf (...cwds: Array<string | null | undefined>): string | null {
  const cwd = cwds.find((c): c is string => typeof c === 'string' && c !== '')
  if (cwd === undefined) return null
  const parts = cwd.split(/[\\/]+/).filter(p => p !== '')
  return parts.length === 0 ? '/' : parts[parts.length - 1]
}

function globRegExp (glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map(p => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
}

const TIME_GROUPS = new Set<UsageGroup>(['hour', 'day', 'week', 'month'])
/** The groups that need each row's agent. */
const AGENT_GROUPS = new Set<UsageGroup>(['agent', 'project', 'runner', 'host'])

type Row = Record<string, string | number | null>

/** What an agent's rows are grouped under besides its id. */
interface AgentKeys { id: string, project: string | null, runner: string | null, host: string | null }

/** Usage in a range, grouped by the given keys, with totals and the models that have no price. */
export async function queryUsage (db: Kysely<Database>, options: UsageQueryOptions): Promise<UsageResultType> {
  const tz = options.tz ?? 'UTC'
  checkTimeZone(tz)
  const groups = [...new Set(options.groupBy)]
  if (groups.includes('session') && !groups.includes('agent')) groups.unshift('agent')
  const fromMs = options.from === undefined ? null : parseBound(options.from, tz, false)
  const toMs = options.to === undefined ? (options.now ?? Date.now()) + 3600000 : parseBound(options.to, tz, true)
  if (fromMs !== null && fromMs >= toMs) throw new RangeError400('from must be before to')
  const range = hourRange(fromMs, toMs)
  const glob = options.agent !== undefined && options.agent.includes('*') ? globRegExp(options.agent) : null

  const byHour = groups.some(g => TIME_GROUPS.has(g))
  const byAgent = groups.some(g => AGENT_GROUPS.has(g)) || glob !== null
  const bySession = groups.includes('session')
  const fleet = !byAgent && !bySession && options.agent === undefined
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter
  const agentKey = options.agent !== undefined && glob === null
    ? db.selectFrom('agents').select('agent_key').where('agent_id', '=', options.agent)
    : null

  // every query groups by model: the unpriced models are named whatever the grouping
  const keys: Array<'model' | 'hour' | 'agent_key' | 'session_number'> = ['model']
  if (byHour) keys.push('hour')
  if (byAgent) keys.push('agent_key')
  if (bySession) keys.push('session_number')
  // by day, week or month in a zone whose offset does not change in the range: the database groups the hours into
  // local days itself (a month is then tens of rows, not hundreds)
  const shift = byHour && !groups.includes('hour') && fromMs !== null ? constantOffsetMinutes(fromMs, toMs, tz) : null

  /** The sums of a table's rows in the given stretches of its time column, grouped by `cols`. */
  const read = async (table: 'usage_hours' | 'usage_fleet_hours' | 'usage_agent_days', time: 'hour' | 'day', stretches: Stretch[],
    cols: string[]): Promise<Row[]> => {
    if (stretches.length === 0) return []
    let q = (db as unknown as Kysely<Pick<Database, 'usage_hours'>>).selectFrom(table as 'usage_hours')
      .select(eb => SUMS.map(k => eb.fn.sum<number | string>(k).as(k)))
      .where(eb => eb.or(stretches.map(([from, to]) => from === null
        ? eb(time as 'hour', '<', to)
        : eb.and([eb(time as 'hour', '>=', from), eb(time as 'hour', '<', to)]))))
    if (agentKey !== null) q = q.where('agent_key', '=', agentKey as any)
    const plain = cols.filter(k => k !== 'hour')
    if (time === 'hour' && shift !== null && cols.includes('hour')) {
      const minutes = Math.round(shift)
      const localDay = postgres
        ? sql<string>`to_char((replace(hour, 'T', ' ') || ':00:00')::timestamp + ${minutes}::int * interval '1 minute', 'YYYY-MM-DD')`
        : sql<string>`substr(datetime(hour || ':00:00', ${`${minutes} minutes`}), 1, 10)`
      // grouped by the output column: the expression's parameter would not match a second copy of it
      return await q.select(plain as any).select(localDay.as('local_day')).groupBy([...plain, sql`local_day`] as any).execute() as unknown as Row[]
    }
    if (time === 'day') {
      if (!cols.includes('hour')) return await q.select(cols as any).groupBy(cols as any).execute() as unknown as Row[]
      // a whole day read here lies in one local day, week and month, and those are the UTC day's own (the zone's
      // offset is under a day): by week or month alone, the database sums the days into them
      const week = groups.includes('week')
      const month = groups.includes('month')
      const bucket = groups.includes('day') || (week && month)
        ? sql<string>`day`
        : week
          ? (postgres ? sql<string>`to_char(date_trunc('week', day::date), 'YYYY-MM-DD')` : sql<string>`date(day, '-6 days', 'weekday 1')`)
          : sql<string>`substr(day, 1, 7)`
      const kind = groups.includes('day') || (week && month) ? 'utc_day' : week ? 'utc_week' : 'utc_month'
      return await q.select(plain as any).select(bucket.as(kind)).groupBy([...plain, sql.raw(kind)] as any).execute() as unknown as Row[]
    }
    return await q.select(cols as any).groupBy(cols as any).execute() as unknown as Row[]
  }

  let rows: Row[]
  if (fleet) {
    // fleet-wide: the per-model sums, a few rows per hour
    rows = await read('usage_fleet_hours', 'hour', [[range.from, range.to]], keys)
  } else if (bySession || groups.includes('hour')) {
    rows = await read('usage_hours', 'hour', [[range.from, range.to]], keys)
  } else {
    // by agent: the whole days from the daily roll-up, the rest from the hours
    let firstDay: string | null = null
    if (range.from === null) {
      let q = db.selectFrom('usage_agent_days').select(eb => eb.fn.min('day').as('first'))
      if (agentKey !== null) q = q.where('agent_key', '=', agentKey as any)
      firstDay = (await q.executeTakeFirst())?.first ?? null
    }
    const split = splitRange(range, firstDay, tz, groups.filter((g): g is 'day' | 'week' | 'month' => TIME_GROUPS.has(g)))
    rows = [...await read('usage_agent_days', 'day', split.days, keys), ...await read('usage_hours', 'hour', split.hours, keys)]
  }

  const agentKeys = byAgent ? [...new Set(rows.map(r => Number(r.agent_key)))] : []
  const agents = new Map<number, AgentKeys>()
  for (let i = 0; i < agentKeys.length; i += 500) {
    const found = await db.selectFrom('agents')
      .leftJoin('agent_runs', 'agent_runs.agent_id', 'agents.agent_id')
      .leftJoin('runners', 'runners.name', 'agent_runs.runner')
      .select(['agents.agent_key', 'agents.agent_id', 'agents.info', 'agent_runs.runner', 'agent_runs.cwd', 'runners.host'])
      .where('agents.agent_key', 'in', agentKeys.slice(i, i + 500)).execute()
    // agents known only from imported transcripts: the directory their sessions ran in
    const unplaced = found.filter(a => initCwd(a.info) === null && (a.cwd ?? null) === null).map(a => a.agent_id)
    const imported = new Map<string, string>()
    if (unplaced.length > 0) {
      const files = await db.selectFrom('transcript_files').select(['agent_id', 'cwd'])
        .where('agent_id', 'in', unplaced).where('cwd', 'is not', null).orderBy('agent_id').orderBy('file').execute()
      for (const f of files) if (f.cwd !== null) imported.set(f.agent_id, f.cwd)
    }
    for (const a of found) {
      const project = projectOf(initCwd(a.info), a.cwd, imported.get(a.agent_id))
      agents.set(Number(a.agent_key), { id: a.agent_id, project, runner: a.runner ?? null, host: a.host ?? null })
    }
  }

  const buckets = new Map<string, LocalBuckets>()
  const groupsOut = new Map<string, { keys: Partial<UsageRowType>, sums: Sums }>()
  const totals = zero()
  const unpriced = new Set<string>()
  for (const r of rows) {
    const sums = zero()
    for (const k of SUMS) sums[k] = Number(r[k] ?? 0)
    const model = String(r.model)
    const agent = byAgent ? agents.get(Number(r.agent_key)) : undefined
    if (glob !== null && (agent === undefined || !glob.test(agent.id))) continue
    let local: LocalBuckets | undefined
    if (r.local_day !== undefined || r.utc_day !== undefined) {
      // a local day the database grouped the hours into, or a whole UTC day that is the same local day, week and month
      const day = String(r.local_day ?? r.utc_day)
      local = buckets.get(day)
      if (local === undefined) { local = { hour: '', ...dayBuckets(day) }; buckets.set(day, local) }
    } else if (r.utc_week !== undefined) {
      local = { hour: '', day: '', week: String(r.utc_week), month: '' }
    } else if (r.utc_month !== undefined) {
      local = { hour: '', day: '', week: '', month: String(r.utc_month) }
    } else if (byHour) {
      const hour = String(r.hour)
      local = buckets.get(hour)
      if (local === undefined) { local = localBuckets(hour, tz); buckets.set(hour, local) }
    }
    const rowKeys: Partial<UsageRowType> = {}
    for (const g of groups) {
      switch (g) {
        case 'hour': case 'day': case 'week': case 'month': rowKeys[g] = (local as LocalBuckets)[g]; break
        case 'agent': rowKeys.agent_id = agent?.id ?? `#${String(r.agent_key)}`; break
        case 'session': rowKeys.session_number = Number(r.session_number); break
        case 'model': rowKeys.model = model; break
        case 'project': rowKeys.project = agent?.project ?? null; break
        case 'runner': rowKeys.runner = agent?.runner ?? null; break
        case 'host': rowKeys.host = agent?.host ?? null; break
      }
    }
    const id = JSON.stringify(rowKeys)
    let g = groupsOut.get(id)
    if (g === undefined) { g = { keys: rowKeys, sums: zero() }; groupsOut.set(id, g) }
    add(g.sums, sums)
    add(totals, sums)
    if (sums.unpriced_count > 0) unpriced.add(model)
  }

  const usage = [...groupsOut.values()].map(g => ({ ...g.keys, ...figures(g.sums) }) as UsageRowType)
  usage.sort((a, b) => {
    for (const g of groups) {
      const k = g === 'agent' ? 'agent_id' : g === 'session' ? 'session_number' : g
      const x = a[k as keyof UsageRowType] ?? ''
      const y = b[k as keyof UsageRowType] ?? ''
      if (x < y) return -1
      if (x > y) return 1
    }
    return 0
  })
  return {
    usage,
    totals: figures(totals),
    unpriced_models: [...unpriced].sort(),
    from: fromMs === null ? null : new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    tz
  }
}

/** The CSV form of an answer: one line per row, the group keys first. */
export function usageCsv (result: UsageResultType, groupBy: UsageGroup[]): string {
  const groups = [...new Set(groupBy)]
  if (groups.includes('session') && !groups.includes('agent')) groups.unshift('agent')
  const keyCols = groups.map(g => g === 'agent' ? 'agent_id' : g === 'session' ? 'session_number' : g)
  const cols = [...keyCols, 'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens',
    'web_search_requests', 'total_tokens', 'cost_usd', 'reported_cost_usd', 'computed_cost_usd', 'cost_source']
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return ''
    const s = String(v)
    return /[",\n\r]/.test(s) || /^[=+\-@]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  const lines = [cols.join(',')]
  for (const row of result.usage) lines.push(cols.map(c => cell((row as Record<string, unknown>)[c])).join(','))
  return lines.join('\n') + '\n'
}
