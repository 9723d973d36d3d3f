// The usage page (#/usage): cost per day stacked by model, tokens per day by type, the top agents and projects and
// the current 5-hour block, over a period of days counted in the browser's time zone. Every chart has its table
// (what screen readers read); a model with no price is named, and its cost shown as "no price", never $0.
import { api, isMissingRoute } from './api.js'
import { append, clear, h } from './dom.js'
import { formatCount } from './format.js'
import { fiveHourBlocks } from './usage-blocks.js'
import { stackedBars, PALETTE, type Chart } from './usage-chart.js'
import { costByModel, lastDays, tokensByType, top, usd, type Series } from './usage-data.js'
import type { Usage, UsageRow } from '../../src/client/index.js'
import type { View } from './view.js'

export const PERIODS = [7, 30, 90]
const TOP = 10
const HOUR = 3600000

/** The browser's time zone, which the server counts days in. */
export function browserZone (): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone
}

function usagePath (params: Record<string, string>): string {
  return `usage?${new URLSearchParams(params).toString()}`
}

function legend (series: Series[], unpriced: Set<string>): HTMLElement {
  return h('ul', { class: 'legend', 'aria-hidden': 'true' }, ...series.map((s, i) =>
    h('li', {}, h('span', { class: `swatch c${i % PALETTE.length}` }), s.label, unpriced.has(s.label) ? h('span', { class: 'unpriced' }, ' (no price)') : null)))
}

/** A table of days × series, with a total column; the newest day first. */
function dayTable (caption: string, days: string[], series: Series[], cell: (v: number | null) => string, total: (vs: Array<number | null>) => string, id: string): HTMLElement {
  const rows = days.map((d, i) => [d, i] as const).reverse().map(([d, i]) => h('tr', {},
    h('th', { scope: 'row' }, d),
    ...series.map(s => h('td', {}, cell(s.values[i]))),
    h('td', { class: 'total' }, total(series.map(s => s.values[i])))))
  return h('div', { class: 'table-wrap usage-table', tabindex: 0, role: 'region', 'aria-labelledby': `${id}-caption` },
    h('table', { id },
      h('caption', { id: `${id}-caption` }, caption),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), ...series.map(s => h('th', { scope: 'col' }, s.label)), h('th', { scope: 'col' }, 'Total'))),
      h('tbody', {}, ...rows)))
}

function rankTable (caption: string, id: string, head: string, rows: UsageRow[], name: (r: UsageRow) => Node | string): HTMLElement {
  return h('div', { class: 'table-wrap usage-table', tabindex: 0, role: 'region', 'aria-labelledby': `${id}-caption` },
    h('table', { id },
      h('caption', { id: `${id}-caption` }, caption),
      h('thead', {}, h('tr', {}, ...[head, 'Tokens', 'Cost'].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...(rows.length === 0
        ? [h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'No usage in this period.'))]
        : rows.map(r => h('tr', {}, h('th', { scope: 'row' }, name(r)), h('td', {}, formatCount(r.total_tokens)), h('td', {}, usd(r.cost_usd))))))))
}

/** Each budget of BUDGETS with its spend in the current period (the server sends them when budgets are set). */
function budgetSection (budgets: NonNullable<Usage['budgets']>): HTMLElement | null {
  if (budgets.length === 0) return null
  const rows = budgets.flatMap(b => b.spend.map(s => h('tr', { class: s.exceeded ? 'exceeded' : '' },
    h('th', { scope: 'row' }, b.budget),
    h('td', {}, s.agent_id ?? 'fleet'),
    h('td', {}, `${b.period} from ${b.period_start}`),
    h('td', {}, usd(s.spend_usd)),
    h('td', {}, usd(b.amount_usd)),
    h('td', { class: 'state' }, s.exceeded ? 'exceeded' : 'within'))))
  return h('section', { 'aria-labelledby': 'budgets-title' },
    h('h2', { id: 'budgets-title' }, 'Budgets'),
    h('div', { class: 'table-wrap usage-table', tabindex: 0, role: 'region', 'aria-labelledby': 'budgets-caption' },
      h('table', { id: 'budgets-table' },
        h('caption', { id: 'budgets-caption' }, 'Spend in the current period (UTC), per budget of BUDGETS'),
        h('thead', {}, h('tr', {}, ...['Budget', 'Agent', 'Period', 'Spend', 'Limit', 'State'].map(c => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, ...rows))))
}

function localTime (iso: string): string {
  return new Date(iso).toLocaleString('en-GB', { weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false })
}

function blockSection (rows: UsageRow[], now: number): HTMLElement {
  const active = fiveHourBlocks(rows, now).find(b => b.active)
  if (active === undefined) {
    return h('section', { class: 'usage-block', 'aria-labelledby': 'block-title' },
      h('h2', { id: 'block-title' }, 'Current 5-hour block'), h('p', { class: 'muted', id: 'block-none' }, 'No usage in an active 5-hour block.'))
  }
  const left = Math.max(0, Date.parse(active.end) - now)
  return h('section', { class: 'usage-block', 'aria-labelledby': 'block-title' },
    h('h2', { id: 'block-title' }, 'Current 5-hour block'),
    h('dl', { class: 'block-facts', id: 'block' },
      h('dt', {}, 'Window'), h('dd', {}, `${localTime(active.start)} – ${localTime(active.end)}`),
      h('dt', {}, 'Left'), h('dd', {}, `${Math.floor(left / HOUR)} h ${Math.floor((left % HOUR) / 60000)} min`),
      h('dt', {}, 'Models'), h('dd', {}, active.models.join(', ')),
      h('dt', {}, 'Tokens'), h('dd', { 'data-field': 'tokens' }, formatCount(active.totals.total_tokens)),
      h('dt', {}, 'Cost'), h('dd', { 'data-field': 'cost' }, usd(active.totals.cost_usd))))
}

export function usageView (main: HTMLElement, days = 30): View {
  const controller = new AbortController()
  const charts: Chart[] = []
  const select = h('select', { id: 'usage-period' }, ...PERIODS.map(n => h('option', { value: n, selected: n === days }, `Last ${n} days`)))
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading usage…')
  const body = h('div', { class: 'usage' })
  clear(main)
  main.append(
    h('div', { class: 'usage-head' },
      h('h1', {}, 'Usage'),
      h('label', { for: 'usage-period' }, 'Period'), select),
    status, body)
  select.addEventListener('change', () => { location.hash = `#/usage/${select.value}` })

  function disposeCharts (): void {
    for (const c of charts.splice(0)) c.dispose()
  }

  async function load (): Promise<void> {
    const tz = browserZone()
    const dayList = lastDays(days, new Date())
    const range = { from: dayList[0], tz }
    const now = Date.now()
    const opts = { signal: controller.signal }
    try {
      const [byDay, byAgent, byProject, byHour] = await Promise.all([
        api<Usage>(usagePath({ group_by: 'day,model', ...range }), opts),
        api<Usage>(usagePath({ group_by: 'agent', ...range }), opts),
        api<Usage>(usagePath({ group_by: 'project', ...range }), opts),
        // blocks are UTC hours; a week back finds where the chain of blocks that reaches now started
        api<Usage>(usagePath({ group_by: 'hour,model', tz: 'UTC', from: new Date(Math.floor(now / HOUR) * HOUR - 7 * 24 * HOUR).toISOString() }), opts)
      ])
      draw(byDay, byAgent, byProject, byHour, dayList, tz, now)
    } catch (err) {
      if (controller.signal.aborted) return
      status.textContent = isMissingRoute(err) ? 'This server does not count usage.' : `Could not load the usage: ${(err as Error).message}`
    }
  }

  function draw (byDay: Usage, byAgent: Usage, byProject: Usage, byHour: Usage, dayList: string[], tz: string, now: number): void {
    disposeCharts()
    clear(body)
    const t = byDay.totals
    status.textContent = `${dayList[0]} to ${dayList[dayList.length - 1]}, days in ${tz}`
    const unpriced = new Set(byDay.unpriced_models)
    const cost = costByModel(byDay.usage, dayList)
    const tokens = tokensByType(byDay.usage, dayList)
    const costChart = h('div', { class: 'chart', 'aria-hidden': 'true' })
    const tokenChart = h('div', { class: 'chart', 'aria-hidden': 'true' })
    const sumCost = (vs: Array<number | null>): string => {
      const sum = vs.reduce<number>((s, v) => s + (v ?? 0), 0)
      if (vs.includes(null)) return sum === 0 ? 'no price' : `${usd(sum)} + unpriced`
      return sum === 0 ? '–' : usd(sum)
    }
    append(body,
      h('dl', { class: 'usage-totals', id: 'usage-totals' },
        h('div', {}, h('dt', {}, 'Cost'), h('dd', { 'data-field': 'cost' }, usd(t.cost_usd), h('span', { class: 'muted small' }, ` (${t.cost_source})`))),
        h('div', {}, h('dt', {}, 'Input'), h('dd', { 'data-field': 'input' }, formatCount(t.input_tokens))),
        h('div', {}, h('dt', {}, 'Output'), h('dd', { 'data-field': 'output' }, formatCount(t.output_tokens))),
        h('div', {}, h('dt', {}, 'Cache write'), h('dd', { 'data-field': 'cache-write' }, formatCount(t.cache_creation_tokens))),
        h('div', {}, h('dt', {}, 'Cache read'), h('dd', { 'data-field': 'cache-read' }, formatCount(t.cache_read_tokens)))),
      unpriced.size > 0
        ? h('p', { class: 'unpriced-note', id: 'unpriced' }, `No price for ${[...unpriced].join(', ')}: tokens counted, cost left out of every figure (set PRICING_FILE).`)
        : null,
      blockSection(byHour.usage, now),
      budgetSection(byDay.budgets ?? []),
      h('section', { 'aria-labelledby': 'cost-title' },
        h('h2', { id: 'cost-title' }, 'Cost per day, by model'),
        cost.length === 0 ? h('p', { class: 'muted' }, 'No usage in this period.') : [costChart, legend(cost, unpriced)],
        dayTable('Cost per day and model (USD; – no usage)', dayList, cost, v => v === 0 ? '–' : usd(v), sumCost, 'cost-table')),
      h('section', { 'aria-labelledby': 'tokens-title' },
        h('h2', { id: 'tokens-title' }, 'Tokens per day, by type'),
        tokenChart, legend(tokens, new Set()),
        dayTable('Tokens per day and type', dayList, tokens, v => formatCount(v ?? 0), vs => formatCount(vs.reduce<number>((s, v) => s + (v ?? 0), 0)), 'tokens-table')),
      h('div', { class: 'usage-tops' },
        h('section', { 'aria-labelledby': 'agents-title' },
          h('h2', { id: 'agents-title' }, 'Top agents'),
          rankTable(`The ${TOP} agents that cost most`, 'agents-table', 'Agent', top(byAgent.usage, TOP),
            r => h('a', { href: `#/agent/${encodeURIComponent(r.agent_id ?? '')}` }, r.agent_id ?? ''))),
        h('section', { 'aria-labelledby': 'projects-title' },
          h('h2', { id: 'projects-title' }, 'Top projects'),
          rankTable(`The ${TOP} projects that cost most`, 'projects-table', 'Project', top(byProject.usage, TOP), r => r.project ?? '(unknown)'))))
    const money = (n: number): string => `$${n < 10 ? n.toFixed(2) : Math.round(n).toLocaleString('en-US')}`
    const count = (n: number): string => n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : String(n)
    const keep = (c: Chart): void => { if (controller.signal.aborted) c.dispose(); else charts.push(c) }
    const failed = (err: Error): void => { status.textContent = `Could not draw the charts: ${err.message}` }
    if (cost.length > 0) stackedBars(costChart, dayList, cost, money).then(keep, failed)
    stackedBars(tokenChart, dayList, tokens, count).then(keep, failed)
  }

  load().catch(() => {})
  return {
    dispose () {
      controller.abort()
      disposeCharts()
    }
  }
}
