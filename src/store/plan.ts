// The write path's rules as one pure function: which events a batch of queued inputs becomes, their seq and
// session, which lines are re-sends, the cost delta, which turn a result ends. No database, no clock, no I/O:
// the writer applies what it returns inside one transaction, and makes the new state current after the commit.
import type { EventDraft } from '../protocol/messages.js'
import {
  assistantEvents, countsEarlierTurns, initInfo, messageSessionId, messageUuid, resultEvent, resultTotalCost, resultUsage, userEvents
} from '../protocol/messages.js'
import { clearReply, isClearReplyAssistant, isNoContentPlaceholder } from '../protocol/clear.js'
import type { AgentLog, ClearOutcome, ClearTurn, Input, PlannedRow, SessionDelta } from './types.js'
import { roundUsd } from '../usd.js'
import { modelUsageDelta, resultModelUsage, UsageRows, type UsageDelta } from '../usage/counters.js'

export interface PlanRules {
  maxEventContentBytes: number
  /** Masks secrets in a draft before it is stored or announced (identity when none are configured). */
  redact: ((draft: EventDraft) => EventDraft) | null
  /** The cost of a model's tokens from the price table, for a result that reports none (null: unpriced). */
  price?: (model: string, counters: import('../usage/counters.js').ModelCounters) => number | null
}

/** The recent line uuids of an agent already stored (the dedupe window; see src/store/recent-lines.ts). */
export interface SeenLines {
  has: (uuid: string) => boolean
}

export interface Planned {
  rows: PlannedRow[]
  /** For each input, in order, the [start, end) of its rows. */
  spans: Array<[number, number]>
  sessions: SessionDelta[]
  /** The batch's additions to usage per agent, session, model and UTC hour (src/usage/). */
  usage: UsageDelta[]
  /** The new state of every agent the batch touched. */
  agents: Map<string, AgentLog>
  /** Per agent, the uuids of the lines taken in, in order (the writer adds them to the window after the commit). */
  lineUuids: Map<string, string[]>
  /** Clear turns answered by this batch (the store tells their callers after the commit). */
  outcomes: Array<{ turnId: number, outcome: ClearOutcome }>
  duplicates: number
}

const NO_LINES: SeenLines = { has: () => false }

function copyTurns (st: AgentLog): AgentLog['pendingTurns'] {
  return st.pendingTurns.map(t => (t.kind === 'clear' ? { ...t } : t))
}

export function planBatch (
  inputs: readonly Input[],
  stateOf: (agentId: string) => AgentLog,
  rules: PlanRules,
  seenOf: (agentId: string) => SeenLines = () => NO_LINES
): Planned {
  const agents = new Map<string, AgentLog>()
  const rows: PlannedRow[] = []
  const spans: Array<[number, number]> = []
  /** Per agent, per session number: the batch's additions to the session's totals. */
  const sessions = new Map<string, Map<number, SessionDelta>>()
  const sessionList: SessionDelta[] = []
  const lineUuids = new Map<string, string[]>()
  const batchUuids = new Map<string, Set<string>>()
  const outcomes: Array<{ turnId: number, outcome: ClearOutcome }> = []
  const usage = new UsageRows()
  let duplicates = 0

  const current = (agentId: string): AgentLog => {
    let st = agents.get(agentId)
    if (st === undefined) {
      const committed = stateOf(agentId)
      st = { ...committed, pendingTurns: copyTurns(committed), info: committed.info === null ? null : { ...committed.info } }
      agents.set(agentId, st)
    }
    return st
  }

  for (const input of inputs) {
    const st = current(input.agentId)
    const start = rows.length
    let lineUuid: string | null = null

    const append = (draft: EventDraft, cost?: { cost_usd: number, usage: ReturnType<typeof resultUsage> }): void => {
      // secrets are masked before anything is stored or announced
      if (rules.redact !== null) draft = rules.redact(draft)
      const row: PlannedRow = {
        agent_id: input.agentId,
        agent_key: st.key,
        session_number: input.session,
        seq: ++st.lastSeq,
        event_type: draft.event_type,
        content: draft.content,
        metadata: draft.metadata,
        created_at: input.at,
        line_uuid: lineUuid
      }
      // only the line's first event carries its uuid
      lineUuid = null
      if (st.oldestSeq === null) st.oldestSeq = row.seq
      rows.push(row)
      let ofAgent = sessions.get(input.agentId)
      if (ofAgent === undefined) { ofAgent = new Map(); sessions.set(input.agentId, ofAgent) }
      let s = ofAgent.get(input.session)
      if (s === undefined) {
        s = {
          agent_key: st.key,
          session_number: input.session,
          first_seq: row.seq,
          last_seq: row.seq,
          started_at: input.at,
          ended_at: input.at,
          cost_usd: 0,
          input_tokens: 0,
          output_tokens: 0,
          cache_read_tokens: 0,
          cache_creation_tokens: 0
        }
        ofAgent.set(input.session, s)
        sessionList.push(s)
      }
      s.last_seq = row.seq
      s.ended_at = input.at
      if (cost !== undefined) {
        s.cost_usd += cost.cost_usd
        s.input_tokens += cost.usage.input_tokens
        s.output_tokens += cost.usage.output_tokens
        s.cache_read_tokens += cost.usage.cache_read_tokens
        s.cache_creation_tokens += cost.usage.cache_creation_tokens
      }
    }

    st.lastSeenAt = input.at
    switch (input.kind) {
      case 'seen':
        break
      case 'connect':
        st.lastConnectedAt = input.at
        if (input.newProcess) {
          // a new CLI process: its cost counter starts again, and prompts sent to the old one are gone
          st.resumeFrom = st.costBaseline !== null && st.claudeSessionId !== null
            ? { sessionId: st.claudeSessionId, total: st.costBaseline, models: st.usageBaseline }
            : null
          st.costBaseline = null
          st.usageBaseline = null
          for (const turn of st.pendingTurns) {
            if (turn.kind === 'clear') outcomes.push({ turnId: turn.id, outcome: 'no_answer' })
          }
          st.pendingTurns = []
        }
        break
      case 'prompt':
        append({ event_type: 'prompt_sent', content: input.content, metadata: null })
        append({ event_type: 'activity_changed', content: null, metadata: { state: 'busy' } })
        st.pendingTurns.push({ kind: 'prompt' })
        break
      case 'record':
        for (const draft of input.drafts) append(draft)
        break
      case 'clear': {
        st.currentSession = input.session
        const metadata: Record<string, unknown> = {
          previous_session: input.previousSession,
          session_number: input.session,
          agent_context: input.outcome ?? 'pending'
        }
        append({ event_type: 'context_cleared', content: null, metadata })
        if (input.turn !== null) {
          // a /clear the agent never answered would otherwise take this one's reply (the CLI may drop prompts)
          st.pendingTurns = st.pendingTurns.filter(turn => turn.kind !== 'clear' || !turn.timedOut)
          st.pendingTurns.push({ ...input.turn, previousClaudeSession: st.claudeSessionId })
        }
        break
      }
      case 'clear_outcome':
        for (const turn of st.pendingTurns) {
          if (turn.kind === 'clear' && turn.sessionNumber === input.clearSession) turn.timedOut = true
        }
        // stored in the session current when it was reported (a later clear may have started another one)
        append({
          event_type: 'context_clear_outcome',
          content: null,
          metadata: { agent_context: input.outcome, session_number: input.clearSession, previous_session: input.previousSession }
        })
        break
      case 'line': {
        const uuid = messageUuid(input.message)
        if (uuid !== null) {
          let inBatch = batchUuids.get(input.agentId)
          if (inBatch === undefined) { inBatch = new Set(); batchUuids.set(input.agentId, inBatch) }
          // a line the agent re-sent (after a reconnect or a restart) adds nothing
          if (inBatch.has(uuid) || seenOf(input.agentId).has(uuid)) {
            duplicates++
            break
          }
          inBatch.add(uuid)
          let list = lineUuids.get(input.agentId)
          if (list === undefined) { list = []; lineUuids.set(input.agentId, list) }
          list.push(uuid)
          lineUuid = uuid
        }
        planLine(input, st, rules, append, outcomes, usage)
        break
      }
    }
    spans.push([start, rows.length])
  }
  return { rows, spans, sessions: sessionList, usage: usage.list(), agents, lineUuids, outcomes, duplicates }
}

/** One stream-json line: its events, and what it says about the agent (session id, cost, which turn ended). */
function planLine (
  input: Extract<Input, { kind: 'line' }>,
  st: AgentLog,
  rules: PlanRules,
  append: (draft: EventDraft, cost?: { cost_usd: number, usage: ReturnType<typeof resultUsage> }) => void,
  outcomes: Array<{ turnId: number, outcome: ClearOutcome }>,
  usage: UsageRows
): void {
  const message = input.message
  const head = st.pendingTurns[0]
  const clearHead: ClearTurn | null = head !== undefined && head.kind === 'clear' ? head : null
  const sessionId = messageSessionId(message)
  if (clearHead !== null && sessionId !== null && clearHead.previousClaudeSession !== null &&
      sessionId !== clearHead.previousClaudeSession) {
    clearHead.cleared = true
  }
  switch (message.type) {
    case 'system':
      if (message.subtype === 'init') {
        st.info = { ...(st.info ?? {}), ...initInfo(message) }
        if (sessionId !== null) st.claudeSessionId = sessionId
      }
      return
    case 'conversation_reset':
      if (clearHead !== null) clearHead.cleared = true
      return
    case 'assistant':
      if (isNoContentPlaceholder(message)) return
      if (clearHead !== null && isClearReplyAssistant(message)) return
      for (const d of assistantEvents(message, rules.maxEventContentBytes)) append(d)
      return
    case 'user':
      for (const d of userEvents(message, rules.maxEventContentBytes)) append(d)
      return
    case 'result': {
      const total = resultTotalCost(message)
      let costUsd = 0
      const models = resultModelUsage(message.modelUsage)
      if (total !== null) {
        let baseline = st.costBaseline ?? 0
        let modelsBaseline = st.usageBaseline
        const resumed = st.resumeFrom
        if (st.costBaseline === null && resumed !== null && sessionId === resumed.sessionId && total >= resumed.total &&
            countsEarlierTurns(message) !== false) {
          baseline = resumed.total
          modelsBaseline = resumed.models
        }
        st.resumeFrom = null
        if (models !== null) {
          // the per-model counters are cumulative for the process, like total_cost_usd: their growth is this turn's
          for (const [model, d] of Object.entries(modelUsageDelta(models, modelsBaseline))) {
            const computed = d.cost_usd === null && rules.price !== undefined ? rules.price(model, d) : null
            const cost = d.cost_usd !== null
              ? { kind: 'reported' as const, usd: d.cost_usd }
              : computed !== null ? { kind: 'computed' as const, usd: computed } : { kind: 'unpriced' as const, usd: 0 }
            usage.add(st.key, input.session, input.at, model, d, cost)
          }
          st.usageBaseline = models
        }
        // a counter that went down belongs to a new process the server was not told about: it counts from zero
        costUsd = total >= baseline ? roundUsd(total - baseline) : total
        st.costBaseline = total
      }
      const cost = { cost_usd: costUsd, usage: resultUsage(message) }
      if (sessionId !== null) st.claudeSessionId = sessionId
      // which turn does this result end? prompts the CLI dropped are skipped over
      const clearIndex = st.pendingTurns.findIndex(t => t.kind === 'clear')
      if (clearIndex !== -1 && clearReply(message) !== null) {
        const turn = st.pendingTurns[clearIndex] as ClearTurn
        st.pendingTurns.splice(0, clearIndex + 1)
        const outcome: ClearOutcome = turn.cleared ? 'cleared' : 'not_supported'
        append({
          event_type: 'context_clear_outcome',
          content: null,
          metadata: {
            agent_context: outcome,
            session_number: turn.sessionNumber,
            previous_session: turn.previousSession,
            claude_session_id: sessionId,
            cost_usd: costUsd,
            usage: message.usage ?? null,
            uuid: messageUuid(message)
          }
        }, cost)
        outcomes.push({ turnId: turn.id, outcome })
        return
      }
      if (head !== undefined && head.kind === 'prompt') st.pendingTurns.shift()
      const draft = resultEvent(message, rules.maxEventContentBytes)
      draft.metadata = { ...draft.metadata, cost_usd: costUsd }
      append(draft, cost)
      append({ event_type: 'activity_changed', content: null, metadata: { state: 'idle' } })
    }
  }
}
