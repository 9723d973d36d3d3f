// `agentlog usage [daily|weekly|monthly|session|blocks]`: GET /usage from a server, printed as a table like
// ccusage's (or --json). The table and the 5-hour blocks are pure functions of the answer.
import { parseArgs } from 'node:util'
import { createClient, type Usage, type UsageRow } from '../client/index.js'
import { readHttpTarget, SERVER_OPTIONS, type TokenFileIo } from './server-options.js'
import { UsageError } from './usage-error.js'
import { fiveHourBlocks, sumUsage as sum, type UsageTotals as Totals } from '../client/usage-blocks.js'

export { fiveHourBlocks, type Block } from '../client/usage-blocks.js'

export const USAGE_COMMAND_USAGE = `usage: agentlog usage [daily|weekly|monthly|session|blocks] [--json] [--breakdown] [--since DATE]
                     [--until DATE] [--agent ID] [--tz ZONE] [--server URL] [--token TOKEN | --token-file F]

Tokens and cost of every agent the server knows (live and imported sessions), per day (the default), ISO
week, month, session, or 5-hour block (the active one marked), from GET /usage.

  --json            the server's answer as JSON instead of a table
  --breakdown       a line per model under each period
  --since DATE      from this day (YYYY-MM-DD or YYYYMMDD, in --tz)
  --until DATE      through this day
  --agent ID        one agent (or a glob: 'web-*')
  --tz ZONE         the time zone days are counted in (default: this machine's, ${Intl.DateTimeFormat().resolvedOptions().timeZone})
  --server URL      the agentlog server (default http://127.0.0.1:7700; AGENTLOG_SERVER)
  --token TOKEN     a reader token (AGENTLOG_TOKEN)
  --token-file F    read the token from file F
  -h, --help        this text`

export type UsageReport = 'daily' | 'weekly' | 'monthly' | 'session' | 'blocks'
const REPORTS: UsageReport[] = ['daily', 'weekly', 'monthly', 'session', 'blocks']

export interface UsageCommandOptions {
  report: UsageReport
  json: boolean
  breakdown: boolean
  since: string | undefined
  until: string | undefined
  agent: string | undefined
  tz: string
}

function day (value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(value)
  if (m === null) throw new UsageError(`${name} must be a day, YYYY-MM-DD or YYYYMMDD, got ${JSON.stringify(value)}`)
  return `${m[1]}-${m[2]}-${m[3]}`
}

/** argv after `usage`; throws UsageError. */
export function parseUsageArgs (argv: string[], env: NodeJS.ProcessEnv, io: TokenFileIo) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', short: 'j' },
      breakdown: { type: 'boolean', short: 'b' },
      since: { type: 'string', short: 's' },
      until: { type: 'string', short: 'u' },
      agent: { type: 'string' },
      tz: { type: 'string' },
      ...SERVER_OPTIONS,
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) return 'help' as const
  if (positionals.length > 1) throw new UsageError(`one report at a time, got ${positionals.join(' ')}`)
  const report = (positionals[0] ?? 'daily') as UsageReport
  if (!REPORTS.includes(report)) throw new UsageError(`the report is one of ${REPORTS.join(', ')}, got ${JSON.stringify(report)}`)
  const options: UsageCommandOptions = {
    report,
    json: values.json === true,
    breakdown: values.breakdown === true,
    since: day(values.since, '--since'),
    until: day(values.until, '--until'),
    agent: values.agent,
    tz: values.tz ?? env.TZ ?? Intl.DateTimeFormat().resolvedOptions().timeZone
  }
  return { options, target: readHttpTarget(values, env, io) }
}

/** What each report asks the server to group by. */
export function groupsOf (o: UsageCommandOptions): string {
  const period = { daily: 'day', weekly: 'week', monthly: 'month', session: 'session', blocks: 'hour' }[o.report]
  return o.breakdown || o.report === 'blocks' ? `${period},model` : period
}

const int = (n: number): string => n.toLocaleString('en-US')
const usd = (n: number | null): string => n === null ? 'n/a' : `$${n.toFixed(2)}`

/** Columns padded to their widest cell; numbers right-aligned. */
function table (head: string[], lines: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map(l => l[i].length)))
  const fmt = (cells: string[]): string => '│ ' + cells.map((c, i) => i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join(' │ ') + ' │'
  const rule = (l: string, m: string, r: string): string => l + widths.map(w => '─'.repeat(w + 2)).join(m) + r
  return [rule('┌', '┬', '┐'), fmt(head), rule('├', '┼', '┤'), ...lines.map(fmt), rule('└', '┴', '┘')].join('\n')
}

function figures (t: Totals): string[] {
  return [int(t.input_tokens), int(t.output_tokens), int(t.cache_creation_tokens), int(t.cache_read_tokens), int(t.total_tokens), usd(t.cost_usd)]
}

/** The report as text: one line per period (models listed), per model under it with --breakdown, then the total. */
export function formatUsage (o: UsageCommandOptions, answer: Usage, now: number): string {
  const head = ['Period', 'Models', 'Input', 'Output', 'Cache Create', 'Cache Read', 'Total Tokens', 'Cost (USD)']
  const lines: string[][] = []
  if (o.report === 'blocks') {
    head[0] = 'Block Start (UTC)'
    for (const b of fiveHourBlocks(answer.usage, now)) {
      lines.push([`${b.start.slice(0, 16).replace('T', ' ')}${b.active ? ' (ACTIVE)' : ''}`, b.models.join(', '), ...figures(b.totals)])
      if (o.breakdown) for (const r of b.rows) lines.push([`  └ ${r.hour as string}`, r.model ?? '', ...figures(r)])
    }
  } else {
    const keyOf = (r: UsageRow): string => o.report === 'session' ? `${r.agent_id as string} #${r.session_number as number}` : String(r.day ?? r.week ?? r.month)
    const periods = new Map<string, UsageRow[]>()
    for (const r of answer.usage) {
      const k = keyOf(r)
      periods.set(k, [...(periods.get(k) ?? []), r])
    }
    for (const [period, rows] of periods) {
      const models = [...new Set(rows.map(r => r.model).filter(m => m !== undefined))]
      lines.push([period, models.join(', '), ...figures(sum(rows))])
      if (o.breakdown) for (const r of rows) lines.push([`  └ ${r.model as string}`, '', ...figures(r)])
    }
  }
  lines.push(['Total', '', ...figures(answer.totals)])
  const out = [table(head, lines)]
  if (answer.unpriced_models.length > 0) out.push(`No price for ${answer.unpriced_models.join(', ')}: their tokens are counted, their cost is not (PRICING_FILE).`)
  return out.join('\n') + '\n'
}

export async function usageCommand (argv: string[], env: NodeJS.ProcessEnv, io: TokenFileIo): Promise<number> {
  let parsed: ReturnType<typeof parseUsageArgs>
  try {
    parsed = parseUsageArgs(argv, env, io)
  } catch (err) {
    process.stderr.write(`agentlog usage: ${(err as Error).message}\n\n${USAGE_COMMAND_USAGE}\n`)
    return 2
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE_COMMAND_USAGE + '\n')
    return 0
  }
  const { options, target } = parsed
  const client = createClient({ baseUrl: target.base, ...(target.token === null ? {} : { token: target.token }) })
  try {
    const answer = await client.usage({
      group_by: groupsOf(options),
      // blocks are 5-hour windows of UTC hours
      tz: options.report === 'blocks' ? 'UTC' : options.tz,
      ...(options.since === undefined ? {} : { from: options.since }),
      ...(options.until === undefined ? {} : { to: options.until }),
      ...(options.agent === undefined ? {} : { agent: options.agent })
    })
    const now = Date.now()
    if (options.json) {
      const body = options.report === 'blocks' ? { blocks: fiveHourBlocks(answer.usage, now), totals: answer.totals, unpriced_models: answer.unpriced_models } : answer
      process.stdout.write(JSON.stringify(body, null, 2) + '\n')
    } else {
      process.stdout.write(formatUsage(options, answer, now))
    }
    return 0
  } catch (err) {
    process.stderr.write(`agentlog usage: ${(err as Error).message}\n`)
    return 1
  }
}
