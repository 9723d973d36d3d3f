// Budgets (BUDGETS): spend limits per day or month (UTC), fleet-wide or per agent (a glob). The watcher looks at
// usage every BUDGET_CHECK_MS; when a budget is crossed it records a budget_exceeded event in the agent's log (for
// the fleet: the agent that spent most) and sends a notice through the approvals webhook, once per budget, agent
// and period (usage_budget_alerts). Parsing, periods and the notice's shape are pure.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { EventDraft } from '../protocol/messages.js'
import type { WebhookFormat } from '../approvals/webhook.js'
import { queryUsage } from './query.js'

export interface Budget {
  /** As written in BUDGETS: `fleet`, or an agent id or glob. */
  scope: string
  amountUsd: number
  period: 'day' | 'month'
}

/** `SCOPE:AMOUNT/PERIOD`, comma-separated: `fleet:50/day,web-*:10/day,agent-1:200/month`. Throws on a bad entry. */
export function parseBudgets (raw: string | undefined): Budget[] {
  const out: Budget[] = []
  for (const entry of (raw ?? '').split(',').map(e => e.trim()).filter(e => e !== '')) {
    const m = /^(.+):\$?(\d+(?:\.\d+)?)\/(day|month)$/.exec(entry)
    if (m === null || m[1].trim() === '') throw new Error(`${JSON.stringify(entry)} is not SCOPE:AMOUNT/day or SCOPE:AMOUNT/month (SCOPE: fleet, an agent id or a glob)`)
    out.push({ scope: m[1].trim(), amountUsd: Number(m[2]), period: m[3] as 'day' | 'month' })
  }
  return out
}

/** The period `now` falls in (UTC): its key (YYYY-MM-DD or YYYY-MM) and first day. */
export function periodOf (period: Budget['period'], now: number): { key: string, from: string } {
  const day = new Date(now).toISOString().slice(0, 10)
  return period === 'day' ? { key: day, from: day } : { key: day.slice(0, 7), from: `${day.slice(0, 7)}-01` }
}

export function budgetName (b: Budget): string {
  return `${b.scope}:${b.amountUsd}/${b.period}`
}

export interface BudgetNotice {
  budget: string
  scope: string
  agent_id: string | null
  period: string
  amount_usd: number
  spend_usd: number
}

function noticeText (n: BudgetNotice): string {
  const who = n.agent_id === null || n.scope === 'fleet' ? 'The fleet' : `Agent ${n.agent_id}`
  return `${who} spent $${n.spend_usd.toFixed(2)} in ${n.period}, over its budget of $${n.amount_usd.toFixed(2)} (${n.budget})`
}

/** The webhook request for a crossed budget, shaped like the approvals' notices for each format. */
export function budgetRequest (url: string, format: WebhookFormat, n: BudgetNotice): { url: string, body: Record<string, unknown> } {
  const text = noticeText(n)
  if (format === 'slack') return { url, body: { text } }
  if (format === 'ntfy') {
    const parsed = new URL(url)
    return { url: `${parsed.origin}/`, body: { topic: parsed.pathname.replace(/^\/+|\/+$/g, ''), title: 'Budget exceeded', message: text, tags: ['moneybag'] } }
  }
  return { url, body: { kind: 'budget_exceeded', ...n, text } }
}

export interface BudgetStatus {
  budget: string
  scope: string
  period: 'day' | 'month'
  period_start: string
  amount_usd: number
  /** Per agent for a glob budget; one entry (agent_id null) for the fleet. */
  spend: Array<{ agent_id: string | null, spend_usd: number, exceeded: boolean }>
}

export interface BudgetWatcherOptions {
  db: Kysely<Database>
  budgets: Budget[]
  intervalMs: number
  /** Stores the event in the agent's log. */
  record: (agentId: string, draft: EventDraft) => Promise<void>
  /** Sends the notice (null: no webhook configured). */
  notify: ((n: BudgetNotice) => void) | null
  log: { warn: (obj: object, msg: string) => void }
  now?: () => number
}

export function createBudgetWatcher (o: BudgetWatcherOptions) {
  const now = o.now ?? Date.now
  let timer: NodeJS.Timeout | null = null
  let running: Promise<void> | null = null

  async function status (): Promise<BudgetStatus[]> {
    const out: BudgetStatus[] = []
    for (const b of o.budgets) {
      const p = periodOf(b.period, now())
      const fleet = b.scope === 'fleet'
      const usage = await queryUsage(o.db, { groupBy: fleet ? [] : ['agent'], from: p.from, tz: 'UTC', ...(fleet ? {} : { agent: b.scope }), now: now() })
      const spend = fleet
        ? [{ agent_id: null, spend_usd: usage.totals.cost_usd ?? 0, exceeded: (usage.totals.cost_usd ?? 0) > b.amountUsd }]
        : usage.usage.map(r => ({ agent_id: r.agent_id ?? null, spend_usd: r.cost_usd ?? 0, exceeded: (r.cost_usd ?? 0) > b.amountUsd }))
      out.push({ budget: budgetName(b), scope: b.scope, period: b.period, period_start: p.from, amount_usd: b.amountUsd, spend })
    }
    return out
  }

  /** The agent that spent most in the period: where a fleet budget's event is recorded. */
  async function topAgent (from: string): Promise<string | null> {
    const usage = await queryUsage(o.db, { groupBy: ['agent'], from, tz: 'UTC', now: now() })
    let best: { id: string, usd: number } | null = null
    for (const r of usage.usage) if (r.agent_id !== undefined && (best === null || (r.cost_usd ?? 0) > best.usd)) best = { id: r.agent_id, usd: r.cost_usd ?? 0 }
    return best?.id ?? null
  }

  async function check (): Promise<void> {
    for (const s of await status()) {
      const b = o.budgets.find(x => budgetName(x) === s.budget) as Budget
      const key = periodOf(b.period, now()).key
      for (const spent of s.spend) {
        if (!spent.exceeded) continue
        const agentId = spent.agent_id ?? await topAgent(s.period_start)
        if (agentId === null) continue
        // once per budget, agent and period, whichever instance sees it first
        const inserted = await o.db.insertInto('usage_budget_alerts')
          .values({ budget: s.budget, scope_agent: spent.agent_id ?? '', period: key, created_at: new Date(now()).toISOString() })
          .onConflict(oc => oc.columns(['budget', 'scope_agent', 'period']).doNothing())
          .executeTakeFirst()
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) continue
        const notice: BudgetNotice = { budget: s.budget, scope: s.scope, agent_id: spent.agent_id, period: key, amount_usd: s.amount_usd, spend_usd: spent.spend_usd }
        await o.record(agentId, { event_type: 'budget_exceeded', content: noticeText(notice), metadata: { ...notice } })
        o.notify?.(notice)
      }
    }
  }

  function tick (): void {
    timer = null
    running = check().catch((err: unknown) => { o.log.warn({ err }, 'budget check failed') }).finally(() => {
      running = null
      if (stopped) return
      timer = setTimeout(tick, o.intervalMs)
      timer.unref()
    })
  }

  let stopped = false
  return {
    status,
    check,
    start (): void {
      if (o.budgets.length === 0) return
      timer = setTimeout(tick, o.intervalMs)
      timer.unref()
    },
    async stop (): Promise<void> {
      stopped = true
      if (timer !== null) clearTimeout(timer)
      await running
    }
  }
}

export type BudgetWatcher = ReturnType<typeof createBudgetWatcher>
