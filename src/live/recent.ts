// The newest committed events kept in memory while someone follows, so a crowd of followers that falls behind in
// a burst catches up without reading the log again (test/stream-recent.test.ts).
import type { StoredEvent } from '../schemas/events.js'
import { byId, bySeq, eventJson } from './messages.js'

/** A memory allowance several windows draw on: each gives back its own oldest events when it is spent. */
export interface Budget {
  bytes: number
  max: number
}

/**
 * The newest committed events of one agent (or of all), in commit order: every event committed with a cursor
 * above `floor` is here, so a read from any position at or above it needs no query.
 */
export class Recent {
  private items: StoredEvent[] = []
  private start = 0
  private bytes = 0

  constructor (public floor: number, private readonly cursorOf: (e: StoredEvent) => number,
    private readonly maxEvents: number, private readonly budget: Budget) {}

  add (event: StoredEvent): void {
    this.items.push(event)
    const size = eventJson(event).length
    this.bytes += size
    this.budget.bytes += size
    while (this.items.length - this.start > 1 &&
      (this.items.length - this.start > this.maxEvents || this.budget.bytes > this.budget.max)) {
      const old = this.items[this.start++]
      const oldSize = eventJson(old).length
      this.bytes -= oldSize
      this.budget.bytes -= oldSize
      this.floor = this.cursorOf(old)
    }
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start)
      this.start = 0
    }
  }

  /** Up to `limit` events after `after`, or null when some of them are no longer kept. */
  after (after: number, limit: number): StoredEvent[] | null {
    if (after < this.floor) return null
    let lo = this.start
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.cursorOf(this.items[mid]) <= after) lo = mid + 1
      else hi = mid
    }
    return this.items.slice(lo, lo + limit)
  }

  /** Gives its memory back to the budget (nobody follows any more). */
  release (): void {
    this.budget.bytes -= this.bytes
    this.bytes = 0
    this.items = []
    this.start = 0
  }
}

/** Bytes of recent events kept in memory for all followed agents together, and for the global stream. */
const RECENT_AGENTS_BYTES = 64 * 1024 * 1024
const RECENT_GLOBAL_BYTES = 32 * 1024 * 1024

/** The windows of the agents someone follows, and of the global stream while someone follows it. */
export class RecentWindows {
  private readonly agents = new Map<string, Recent>()
  private all: Recent | null = null
  private readonly agentsBudget: Budget = { bytes: 0, max: RECENT_AGENTS_BYTES }
  private readonly globalBudget: Budget = { bytes: 0, max: RECENT_GLOBAL_BYTES }

  /** `maxEvents`: a window's length at most; memory is bounded by the budgets, not by this. */
  constructor (private readonly maxEvents: number) {}

  agent (agentId: string): Recent | null {
    return this.agents.get(agentId) ?? null
  }

  get global (): Recent | null {
    return this.all
  }

  /** Starts keeping the agent's events committed after `head` (seq). */
  openAgent (agentId: string, head: number): void {
    this.agents.set(agentId, new Recent(head, bySeq, this.maxEvents, this.agentsBudget))
  }

  dropAgent (agentId: string): void {
    this.agents.get(agentId)?.release()
    this.agents.delete(agentId)
  }

  /** Starts keeping every event committed after `head` (id). */
  openGlobal (head: number): void {
    this.all = new Recent(head, byId, this.maxEvents, this.globalBudget)
  }

  dropGlobal (): void {
    this.all?.release()
    this.all = null
  }

  /** A committed event, in commit order. */
  add (event: StoredEvent): void {
    this.agents.get(event.agent_id)?.add(event)
    this.all?.add(event)
  }

  get count (): number {
    return this.agents.size + (this.all === null ? 0 : 1)
  }

  get bytes (): number {
    return this.agentsBudget.bytes + this.globalBudget.bytes
  }
}
