// The approval desk: answers can_use_tool requests by policy, holds the ones a person must decide, and takes
// their decisions, cancellations and timeouts. Every request that waits is a row (survives restarts) and a
// permission_requested event; every outcome is a permission_decided event.
import { randomUUID } from 'node:crypto'
import type { Static } from '@sinclair/typebox'
import type { ApprovalRow, ApprovalRuleRow } from '../../db/schema.js'
import type {
  DecisionResult as DecisionResultSchema, RememberedRule as RememberedRuleSchema, RuleRef as RuleRefSchema
} from '../schemas/approvals.js'
import type { EventDraft } from '../protocol/messages.js'
import { truncateUtf8 } from '../protocol/messages.js'
import { permissionResponse, type PermissionAnswer, type PermissionRequest } from '../protocol/permissions.js'
import { decide, inputSubject, INPUT_SUBJECTS, type Policy, type PolicyRule } from './policy.js'
import type { ApprovalStore } from './store.js'
import { inputSummary, type Notifier } from './webhook.js'

export type Behavior = 'allow' | 'deny'

/** The policy rule that asked, as kept with the request. */
export type RuleRef = Static<typeof RuleRefSchema>

export interface Approval {
  agentId: string
  requestId: string
  /** Where the answer goes: the latest request_id the CLI asked with, as sent. */
  rawRequestId: string | number
  toolName: string
  input: unknown
  toolUseId: string | null
  rule: RuleRef | null
  sessionNumber: number
  seq: number | null
  requestedAt: string
  status: 'pending' | 'decided' | 'cancelled'
  behavior: Behavior | null
  message: string | null
  updatedInput: unknown
  decidedBy: string | null
  decidedAt: string | null
  waitedMs: number | null
  delivered: boolean
  /** Settles once the row exists (a decision waits for it). */
  stored: Promise<void>
  timer: NodeJS.Timeout | null
}

export interface Decision {
  behavior: Behavior
  message?: string
  updatedInput?: unknown
  remember?: 'session' | 'agent'
}

export type DecisionResult = Static<typeof DecisionResultSchema>

export type DecideOutcome =
  | { kind: 'decided', result: DecisionResult }
  | { kind: 'not_found' }
  | { kind: 'closed', approval: Approval }

export type RememberedRule = Static<typeof RememberedRuleSchema>

export interface DeskDeps {
  store: ApprovalStore
  events: {
    loadAgent: (agentId: string, create: boolean) => Promise<unknown>
    record: (agentId: string, drafts: EventDraft[]) => Promise<Array<{ seq: number, session_number: number }>>
    currentSession: (agentId: string) => number | null
  }
  /** Sends one line to the agent's socket; false when it is not connected. */
  send: (agentId: string, message: unknown) => boolean
  /**
   * Several instances: whether this instance owns (writes) the agent. The desk then holds only its own agents'
   * requests and rules in memory (taken with `adopt` from the database, given up with `letGo`) and reads the
   * others' from the database. Absent: one instance, which holds every agent.
   */
  owns?: (agentId: string) => boolean
  policy: Policy
  timeoutMs: number
  fallback: Behavior
  publicUrl: string
  maxInputBytes: number
  notifier: Notifier | null
  /** Masks secrets in what leaves the server (the webhook's summary). */
  redactText?: (text: string) => string
  log: { info: (obj: object, msg: string) => void, warn: (obj: object, msg: string) => void, error: (obj: object, msg: string) => void }
  now?: () => number
}

const key = (agentId: string, requestId: string): string => `${agentId}\u0000${requestId}`

function parseJson (text: string | null): unknown {
  return text === null ? null : JSON.parse(text)
}

function minutes (ms: number): string {
  if (ms % 60000 === 0) return ms === 60000 ? '1 minute' : `${ms / 60000} minutes`
  if (ms % 1000 === 0) return ms === 1000 ? '1 second' : `${ms / 1000} seconds`
  return `${ms} ms`
}

function ruleRef (rule: PolicyRule | null): RuleRef | null {
  return rule === null ? null : { id: rule.id, tool: rule.tool, input: rule.input, agent: rule.agent, decision: rule.decision }
}

function fromRow (row: ApprovalRow): Approval {
  return {
    agentId: row.agent_id,
    requestId: row.request_id,
    rawRequestId: JSON.parse(row.raw_request_id) as string | number,
    toolName: row.tool_name,
    input: JSON.parse(row.input),
    toolUseId: row.tool_use_id,
    rule: parseJson(row.rule) as RuleRef | null,
    sessionNumber: row.session_number,
    seq: row.seq,
    requestedAt: row.requested_at,
    status: row.status,
    behavior: row.behavior,
    message: row.message,
    updatedInput: parseJson(row.updated_input),
    decidedBy: row.decided_by,
    decidedAt: row.decided_at,
    waitedMs: row.waited_ms,
    delivered: row.delivered === 1,
    stored: Promise.resolve(),
    timer: null
  }
}

function toRow (a: Approval): ApprovalRow {
  return {
    agent_id: a.agentId,
    request_id: a.requestId,
    raw_request_id: JSON.stringify(a.rawRequestId),
    tool_name: a.toolName,
    input: JSON.stringify(a.input ?? {}),
    tool_use_id: a.toolUseId,
    rule: a.rule === null ? null : JSON.stringify(a.rule),
    session_number: a.sessionNumber,
    seq: a.seq,
    requested_at: a.requestedAt,
    status: a.status,
    behavior: a.behavior,
    message: a.message,
    updated_input: a.updatedInput === null || a.updatedInput === undefined ? null : JSON.stringify(a.updatedInput),
    decided_by: a.decidedBy,
    decided_at: a.decidedAt,
    waited_ms: a.waitedMs,
    delivered: a.delivered ? 1 : 0
  }
}

function ruleFromRow (row: ApprovalRuleRow): RememberedRule {
  return { ...row, decision: row.decision }
}

/** The answer the CLI gets for a decided request. */
export function answerOf (a: Pick<Approval, 'behavior' | 'message' | 'updatedInput' | 'input' | 'toolName'>): PermissionAnswer {
  if (a.behavior === 'allow') return { behavior: 'allow', updatedInput: a.updatedInput ?? a.input ?? {} }
  return { behavior: 'deny', message: a.message ?? `Tool '${a.toolName}': denied` }
}

export function createDesk (deps: DeskDeps) {
  const { store, events, log } = deps
  const now = deps.now ?? Date.now
  /** Pending requests, and decisions not yet handed to the agent. */
  const open = new Map<string, Approval>()
  let remembered: RememberedRule[] = []
  let closed = false

  function limitedInput (input: unknown): unknown {
    const text = JSON.stringify(input ?? null)
    const cut = truncateUtf8(text, deps.maxInputBytes)
    return cut === null ? input : cut.text
  }

  function decideUrl (a: Approval): string {
    return `${deps.publicUrl}/agents/${encodeURIComponent(a.agentId)}/approvals/${encodeURIComponent(a.requestId)}`
  }

  /** Remembered rules that apply to this agent now, as policy rules. */
  function rememberedFor (agentId: string): PolicyRule[] {
    const session = events.currentSession(agentId)
    return remembered
      .filter(r => r.agent_id === agentId && (r.scope === 'agent' || r.session_number === session))
      .map(r => ({ id: `remembered ${r.id}`, tool: r.tool, input: r.input, agent: null, decision: r.decision, message: null }))
  }

  function deliver (a: Approval): boolean {
    const sent = deps.send(a.agentId, permissionResponse(a.rawRequestId, answerOf(a)))
    if (sent && !a.delivered) {
      a.delivered = true
      open.delete(key(a.agentId, a.requestId))
      store.update(a.agentId, a.requestId, { delivered: 1 }).catch(err => log.error({ err }, 'could not mark an approval delivered'))
    }
    return sent
  }

  function armTimer (a: Approval): void {
    if (a.timer !== null || closed) return
    const due = Date.parse(a.requestedAt) + deps.timeoutMs - now()
    a.timer = setTimeout(() => {
      a.timer = null
      const fallback = deps.fallback
      const message = fallback === 'deny'
        ? `Tool '${a.toolName}': no one decided within ${minutes(deps.timeoutMs)}, so it was denied`
        : undefined
      settle(a, { behavior: fallback, message }, 'timeout').catch(err => log.error({ err }, 'approval timeout failed'))
    }, Math.max(0, due))
    a.timer.unref()
  }

  /** Stores a new waiting request: row first (so a restart finds it), then its event, then the notice. */
  async function persist (a: Approval): Promise<void> {
    const inserted = await store.insert(toRow(a))
    if (!inserted) {
      // asked before this process knew it (e.g. decided, delivered and forgotten): answer from the record
      const row = await store.get(a.agentId, a.requestId)
      if (row !== undefined) {
        a.status = row.status
        const known = fromRow(row)
        known.rawRequestId = a.rawRequestId
        open.set(key(a.agentId, a.requestId), known)
        if (known.status === 'pending') armTimer(known)
        else if (known.status === 'decided') deliver(known)
        else {
          // cancelled: the CLI no longer waits, but a relay that re-sends it does until it gets an answer
          open.delete(key(a.agentId, a.requestId))
          deps.send(a.agentId, permissionResponse(a.rawRequestId, { behavior: 'deny', message: `Tool '${a.toolName}': the request was cancelled` }))
        }
        return
      }
    }
    armTimer(a)
    await events.loadAgent(a.agentId, true)
    const [event] = await events.record(a.agentId, [{
      event_type: 'permission_requested',
      content: a.toolName,
      metadata: {
        request_id: a.requestId,
        tool_use_id: a.toolUseId,
        tool_name: a.toolName,
        input: limitedInput(a.input),
        rule: a.rule
      }
    }])
    a.seq = event.seq
    a.sessionNumber = event.session_number
    await store.update(a.agentId, a.requestId, { seq: a.seq, session_number: a.sessionNumber })
    deps.notifier?.notify({
      agent_id: a.agentId,
      request_id: a.requestId,
      tool_name: a.toolName,
      summary: inputSummary(a.toolName, a.input, deps.redactText),
      decide_url: decideUrl(a),
      requested_at: a.requestedAt
    })
  }

  /** Closes a waiting request: decided (by a person or the timeout) or cancelled; stores the outcome. */
  async function settle (a: Approval, d: Decision | 'cancelled', by: string, reason?: string): Promise<DecisionResult | null> {
    await a.stored
    if (a.status !== 'pending') return null
    if (a.timer !== null) { clearTimeout(a.timer); a.timer = null }
    const decidedAt = new Date(now())
    a.waitedMs = Math.max(0, decidedAt.getTime() - Date.parse(a.requestedAt))
    a.decidedAt = decidedAt.toISOString()
    a.decidedBy = by
    if (d === 'cancelled') {
      a.status = 'cancelled'
      open.delete(key(a.agentId, a.requestId))
    } else {
      a.status = 'decided'
      a.behavior = d.behavior
      a.message = d.behavior === 'deny' ? (d.message ?? `Tool '${a.toolName}': denied by ${by}`) : null
      a.updatedInput = d.behavior === 'allow' ? (d.updatedInput ?? null) : null
    }
    // the decision is on disk before the agent acts on it; delivered is set once it is handed over
    await store.update(a.agentId, a.requestId, {
      status: a.status,
      behavior: a.behavior,
      message: a.message,
      decided_by: by,
      decided_at: a.decidedAt,
      waited_ms: a.waitedMs,
      updated_input: toRow(a).updated_input
    })
    const delivered = a.status === 'decided' ? deliver(a) : false
    let rule: RememberedRule | null = null
    if (d !== 'cancelled' && d.remember !== undefined) rule = await remember(a, d.behavior, d.remember, by)
    const metadata: Record<string, unknown> = {
      request_id: a.requestId,
      tool_use_id: a.toolUseId,
      tool_name: a.toolName,
      decision: a.status === 'cancelled' ? 'cancelled' : a.behavior,
      decided_by: by,
      waited_ms: a.waitedMs,
      requested_seq: a.seq
    }
    if (a.message !== null) metadata.message = a.message
    if (a.updatedInput !== null && a.updatedInput !== undefined) metadata.updated_input = limitedInput(a.updatedInput)
    if (reason !== undefined) metadata.reason = reason
    if (rule !== null) metadata.remembered_rule = rule.id
    if (a.status === 'decided') metadata.delivered = delivered
    await events.loadAgent(a.agentId, true)
    await events.record(a.agentId, [{ event_type: 'permission_decided', content: metadata.decision as string, metadata }])
    log.info({ agentId: a.agentId, requestId: a.requestId, tool: a.toolName, decision: metadata.decision, by, waitedMs: a.waitedMs, delivered }, 'tool permission decided')
    if (a.status === 'cancelled') return null
    return { agent_id: a.agentId, request_id: a.requestId, behavior: a.behavior as Behavior, decided_by: by, waited_ms: a.waitedMs, delivered }
  }

  async function remember (a: Approval, behavior: Behavior, scope: 'session' | 'agent', by: string): Promise<RememberedRule> {
    const subject = inputSubject(a.toolName, a.input)
    const rule: RememberedRule = {
      id: `r-${randomUUID().slice(0, 8)}`,
      agent_id: a.agentId,
      scope,
      session_number: scope === 'session' ? (events.currentSession(a.agentId) ?? a.sessionNumber) : null,
      tool: a.toolName,
      // Bash: the command as a prefix; file tools: the path (its * and ? stand for themselves, roughly)
      input: subject === null ? null : INPUT_SUBJECTS[a.toolName]?.kind === 'path' ? subject.replace(/[*?]/g, '?') : subject,
      decision: behavior,
      created_at: new Date(now()).toISOString(),
      created_by: by,
      request_id: a.requestId
    }
    await store.addRule(rule)
    remembered.push(rule)
    return rule
  }

  /** Takes what the database holds open for the agent (or for all): waiting requests get their timers. */
  function load (rows: ApprovalRow[]): void {
    for (const row of rows) {
      if (open.has(key(row.agent_id, row.request_id))) continue
      const a = fromRow(row)
      open.set(key(a.agentId, a.requestId), a)
      if (a.status === 'pending') armTimer(a)
    }
  }

  const elsewhere = (agentId: string): boolean => deps.owns !== undefined && !deps.owns(agentId)

  return {
    /**
     * Loads what a previous run left open: waiting requests get their timers, undelivered decisions wait for the
     * agent. Several instances: nothing yet, each agent's are taken when this instance takes the agent.
     */
    async start (): Promise<void> {
      if (deps.owns !== undefined) return
      remembered = (await store.rules()).map(ruleFromRow)
      load(await store.open())
    },

    /** This instance now owns the agent: its open requests and remembered rules, as the previous owner left them. */
    async adopt (agentId: string): Promise<void> {
      const rules = (await store.rules(agentId)).map(ruleFromRow)
      remembered = [...remembered.filter(r => r.agent_id !== agentId), ...rules]
      load(await store.open(agentId))
    },

    /** Another instance owns the agent now: its timers stop here and what memory held of it goes. */
    letGo (agentId: string): void {
      for (const [k, a] of open) {
        if (a.agentId !== agentId) continue
        if (a.timer !== null) { clearTimeout(a.timer); a.timer = null }
        open.delete(k)
      }
      remembered = remembered.filter(r => r.agent_id !== agentId)
    },

    /**
     * A can_use_tool request. Returns the answer to send at once, or null when it waits for a person (or is
     * already waiting: a request asked again after a reconnect is the same request, not a new one).
     */
    request (agentId: string, req: PermissionRequest): PermissionAnswer | null {
      let known = open.get(key(agentId, req.requestId))
      if (known === undefined && req.toolUseId !== null) {
        known = [...open.values()].find(a => a.agentId === agentId && a.toolUseId === req.toolUseId && a.status === 'pending')
      }
      if (known !== undefined) {
        if (known.rawRequestId !== req.rawRequestId) {
          known.rawRequestId = req.rawRequestId
          store.update(agentId, known.requestId, { raw_request_id: JSON.stringify(req.rawRequestId) }).catch(err => log.error({ err }, 'could not update an approval'))
        }
        if (known.status === 'decided') deliver(known)
        else log.info({ agentId, requestId: req.requestId }, 'permission request asked again: still waiting')
        return null
      }
      const call = { agentId, toolName: req.toolName, input: req.input }
      let verdict = decide(deps.policy.rules, deps.policy.otherwise, call)
      if (verdict.decision === 'ask') {
        const mine = decide(rememberedFor(agentId), 'ask', call)
        if (mine.rule !== null) verdict = mine
      }
      if (verdict.rule?.id.startsWith('remembered ') === true && verdict.decision !== 'ask') {
        // a person's earlier decision answered this one: the log says so
        const ruleId = verdict.rule.id.slice('remembered '.length)
        events.record(agentId, [{
          event_type: 'permission_decided',
          content: verdict.decision,
          metadata: { request_id: req.requestId, tool_use_id: req.toolUseId, tool_name: req.toolName, decision: verdict.decision, decided_by: `rule ${ruleId}`, waited_ms: 0, remembered_rule: ruleId }
        }]).catch(err => log.error({ err }, 'could not record a remembered decision'))
      }
      if (verdict.decision === 'allow') return { behavior: 'allow', updatedInput: req.input }
      if (verdict.decision === 'deny') return { behavior: 'deny', message: verdict.message ?? `Tool '${req.toolName}': denied by policy` }
      const a: Approval = {
        agentId,
        requestId: req.requestId,
        rawRequestId: req.rawRequestId,
        toolName: req.toolName,
        input: req.input,
        toolUseId: req.toolUseId,
        rule: ruleRef(verdict.rule),
        sessionNumber: events.currentSession(agentId) ?? 0,
        seq: null,
        requestedAt: new Date(now()).toISOString(),
        status: 'pending',
        behavior: null,
        message: null,
        updatedInput: null,
        decidedBy: null,
        decidedAt: null,
        waitedMs: null,
        delivered: false,
        stored: Promise.resolve(),
        timer: null
      }
      open.set(key(agentId, req.requestId), a)
      a.stored = persist(a).catch((err) => { log.error({ err, agentId, requestId: req.requestId }, 'could not store a permission request') })
      log.info({ agentId, requestId: req.requestId, tool: req.toolName, rule: a.rule?.id ?? 'default' }, 'tool permission: waiting for a person')
      return null
    },

    /** Whether the database has this request (in any state). */
    async stored (agentId: string, requestId: string): Promise<boolean> {
      return open.has(key(agentId, requestId)) || await store.get(agentId, requestId) !== undefined
    },

    /** The CLI stopped waiting (control_cancel_request). */
    cancel (agentId: string, requestId: string, reason: string): void {
      const a = open.get(key(agentId, requestId))
      if (a === undefined || a.status !== 'pending') return
      settle(a, 'cancelled', 'agent', reason).catch(err => log.error({ err }, 'could not cancel an approval'))
    },

    /** A turn ended (a committed result at seq): whatever it still waited for can no longer be answered. */
    turnEnded (agentId: string, resultSeq: number): void {
      for (const a of open.values()) {
        if (a.agentId === agentId && a.status === 'pending' && a.seq !== null && a.seq < resultSeq) {
          settle(a, 'cancelled', 'agent', 'turn ended').catch(err => log.error({ err }, 'could not cancel an approval'))
        }
      }
    },

    /** The agent (re)connected: hand over what was decided while it was away. */
    connected (agentId: string): void {
      for (const a of [...open.values()]) {
        if (a.agentId === agentId && a.status === 'decided' && !a.delivered) deliver(a)
      }
    },

    async decide (agentId: string, requestId: string, d: Decision, by: string): Promise<DecideOutcome> {
      let a = open.get(key(agentId, requestId))
      if (a === undefined) {
        const row = await store.get(agentId, requestId)
        if (row === undefined) return { kind: 'not_found' }
        a = open.get(key(agentId, requestId)) ?? fromRow(row)
      }
      if (a.status !== 'pending') return { kind: 'closed', approval: a }
      const result = await settle(a, d, by)
      if (result === null) return { kind: 'closed', approval: a }
      return { kind: 'decided', result }
    },

    /** Requests waiting for a person, oldest first: this instance's, and (several instances) the other owners' from the database. */
    async pending (agentId?: string): Promise<Approval[]> {
      const here = [...open.values()].filter(a => a.status === 'pending' && (agentId === undefined || a.agentId === agentId))
      if (deps.owns !== undefined) {
        const held = new Set(here.map(a => key(a.agentId, a.requestId)))
        for (const row of await store.pending(agentId)) {
          if (elsewhere(row.agent_id) && !held.has(key(row.agent_id, row.request_id))) here.push(fromRow(row))
        }
      }
      return here.sort((x, y) => x.requestedAt.localeCompare(y.requestedAt))
    },

    /** The agent's rules in force in `session` (its current one): from memory on its owner, else from the database. */
    async rules (agentId: string, session: number): Promise<RememberedRule[]> {
      const all = elsewhere(agentId) ? (await store.rules(agentId)).map(ruleFromRow) : remembered
      return all.filter(r => r.agent_id === agentId && (r.scope === 'agent' || r.session_number === session))
    },

    async deleteRule (agentId: string, id: string): Promise<RememberedRule | null> {
      const rule = elsewhere(agentId)
        ? (await store.rules(agentId)).map(ruleFromRow).find(r => r.id === id)
        : remembered.find(r => r.agent_id === agentId && r.id === id)
      if (rule === undefined) return null
      await store.deleteRule(id)
      remembered = remembered.filter(r => r.id !== id)
      return rule
    },

    close (): void {
      closed = true
      for (const a of open.values()) {
        if (a.timer !== null) { clearTimeout(a.timer); a.timer = null }
      }
    }
  }
}

export type Desk = ReturnType<typeof createDesk>
