// The batch planner's rules, given / when / then: plain state in, rows and new state out, no app, no database.
import { test } from 'tap'
import { planBatch, type Planned } from '../../src/store/plan.js'
import { RecentLines } from '../../src/store/recent-lines.js'
import type { AgentLog, ClearTurn, Input } from '../../src/store/types.js'

const T0 = '2026-01-01T00:00:00.000Z'
const T1 = '2026-01-01T00:00:01.000Z'
const RULES = { maxEventContentBytes: 1000, redact: null }

function fresh (over: Partial<AgentLog> = {}): AgentLog {
  return {
    key: 7,
    lastSeq: 0,
    oldestSeq: null,
    costBaseline: null,
    usageBaseline: null,
    resumeFrom: null,
    claudeSessionId: null,
    info: null,
    pendingTurns: [],
    lastSeenAt: null,
    lastConnectedAt: null,
    currentSession: 0,
    ...over
  }
}

const line = (message: Record<string, unknown>, session = 0, at = T0): Input =>
  ({ kind: 'line', agentId: 'a', session, at, message: { type: 'assistant', ...message } })

const text = (uuid: string, words: string, session = 0): Input =>
  line({ uuid, session_id: 's1', message: { id: `m-${uuid}`, model: 'm', content: [{ type: 'text', text: words }] } }, session)

const result = (uuid: string, total: number, extra: Record<string, unknown> = {}): Input =>
  line({ type: 'result', uuid, session_id: 's1', num_turns: 1, result: 'done', total_cost_usd: total, usage: { input_tokens: 10, output_tokens: 2 }, ...extra })

/** Runs batches one after the other, carrying the state (and the dedupe window) across, like the writer does. */
function after (batches: Input[][], state = fresh(), window = new RecentLines(100)): { state: AgentLog, window: RecentLines, last: Planned } {
  let last: Planned | undefined
  for (const inputs of batches) {
    last = planBatch(inputs, () => state, RULES, () => window)
    state = last.agents.get('a') ?? state
    for (const uuid of last.lineUuids.get('a') ?? []) window.add(uuid)
  }
  return { state, window, last: last as Planned }
}

test('given a new agent, when a text line arrives, then it is one output event at seq 1 carrying the line uuid', async (t) => {
  const then = planBatch([text('u1', 'hello')], () => fresh(), RULES)
  t.same(then.rows.map(r => [r.seq, r.event_type, r.content, r.line_uuid, r.agent_key, r.created_at]), [[1, 'output', 'hello', 'u1', 7, T0]])
  t.same(then.spans, [[0, 1]])
  t.equal(then.agents.get('a')?.lastSeq, 1)
  t.equal(then.agents.get('a')?.oldestSeq, 1)
  t.same(then.sessions.map(s => [s.session_number, s.first_seq, s.last_seq]), [[0, 1, 1]])
})

test('given a committed line, when it is re-sent (reconnect replay), then it produces no events', async (t) => {
  const given = after([[text('u1', 'hello')]])
  const then = planBatch([text('u1', 'hello'), text('u2', 'next')], () => given.state, RULES, () => given.window)
  t.same(then.rows.map(r => [r.seq, r.content]), [[2, 'next']])
  t.equal(then.duplicates, 1)
  t.same(then.lineUuids.get('a'), ['u2'])
})

test('given nothing, when a line appears twice in one batch, then only the first counts', async (t) => {
  const then = planBatch([text('u1', 'a'), text('u1', 'a')], () => fresh(), RULES)
  t.equal(then.rows.length, 1)
  t.equal(then.duplicates, 1)
})

test('given a line that makes several events, then only its first event carries the uuid', async (t) => {
  const then = planBatch([line({ uuid: 'u9', message: { content: [{ type: 'thinking', thinking: 'hm' }, { type: 'tool_use', id: 't', name: 'Bash', input: {} }] } })], () => fresh(), RULES)
  t.same(then.rows.map(r => [r.event_type, r.line_uuid]), [['thinking', 'u9'], ['tool_use', null]])
})

test('given a process counter at 0.5, when a result reports 0.75, then the turn cost 0.25 and the baseline moves', async (t) => {
  const given = after([[result('r1', 0.5)]])
  t.equal(given.state.costBaseline, 0.5)
  const then = planBatch([result('r2', 0.75)], () => given.state, RULES, () => given.window)
  t.same(then.rows.map(r => r.event_type), ['result', 'activity_changed'])
  t.equal(then.rows[0].metadata?.cost_usd, 0.25)
  t.equal(then.sessions[0].cost_usd, 0.25)
  t.equal(then.sessions[0].input_tokens, 10)
  t.equal(then.agents.get('a')?.costBaseline, 0.75)
})

test('given a counter, when a new process connects and reports a smaller total, then it counts from zero', async (t) => {
  const given = after([[result('r1', 0.5)], [{ kind: 'connect', agentId: 'a', session: 0, at: T1, newProcess: true }]])
  t.equal(given.state.costBaseline, null)
  t.equal(given.state.lastConnectedAt, T1)
  const then = planBatch([result('r2', 0.1, { session_id: 'other' })], () => given.state, RULES)
  t.equal(then.rows[0].metadata?.cost_usd, 0.1)
})

test('given a process that ended at 0.5, when a --resume process continues its session at 0.7, then the turn cost 0.2', async (t) => {
  const given = after([[result('r1', 0.5)], [{ kind: 'connect', agentId: 'a', session: 0, at: T1, newProcess: true }]])
  const then = planBatch([result('r2', 0.7)], () => given.state, RULES)
  t.equal(then.rows[0].metadata?.cost_usd, 0.2)
})

test('given a clear-context, when lines of both sessions are in one batch, then each keeps the session it was received in', async (t) => {
  const turn: ClearTurn = { kind: 'clear', id: 1, sessionNumber: 1, previousSession: 0, previousClaudeSession: null, cleared: false, timedOut: false }
  const then = planBatch([
    text('u1', 'before'),
    { kind: 'clear', agentId: 'a', session: 1, at: T0, previousSession: 0, turn, outcome: null },
    text('u2', 'after', 1)
  ], () => fresh({ claudeSessionId: 's1' }), RULES)
  t.same(then.rows.map(r => [r.seq, r.session_number, r.event_type]), [[1, 0, 'output'], [2, 1, 'context_cleared'], [3, 1, 'output']])
  t.same(then.sessions.map(s => [s.session_number, s.first_seq, s.last_seq]), [[0, 1, 1], [1, 2, 3]])
  t.equal(then.agents.get('a')?.currentSession, 1)
  t.same(then.agents.get('a')?.pendingTurns, [{ ...turn, previousClaudeSession: 's1' }], 'the turn remembers the CLI session it cleared')
})

test('given a pending /clear, when the CLI answers with a new session id and num_turns 0, then the outcome is cleared and the reply is no conversation', async (t) => {
  const turn: ClearTurn = { kind: 'clear', id: 4, sessionNumber: 1, previousSession: 0, previousClaudeSession: null, cleared: false, timedOut: false }
  const given = after([[{ kind: 'clear', agentId: 'a', session: 1, at: T0, previousSession: 0, turn, outcome: null }]], fresh({ claudeSessionId: 's1' }))
  const then = planBatch([
    line({ uuid: 'x1', session_id: 's2', message: { model: '<synthetic>', content: [{ type: 'text', text: '(no content)' }] } }, 1),
    result('x2', 0, { session_id: 's2', num_turns: 0, result: '' })
  ], () => given.state, RULES, () => given.window)
  t.same(then.rows.map(r => r.event_type), ['context_clear_outcome'])
  t.equal(then.rows[0].metadata?.agent_context, 'cleared')
  t.same(then.outcomes, [{ turnId: 4, outcome: 'cleared' }])
  t.same(then.agents.get('a')?.pendingTurns, [])
})

test('given a pending /clear, when 2.1.112 refuses it, then the outcome is not_supported', async (t) => {
  const turn: ClearTurn = { kind: 'clear', id: 5, sessionNumber: 1, previousSession: 0, previousClaudeSession: null, cleared: false, timedOut: false }
  const given = after([[{ kind: 'clear', agentId: 'a', session: 1, at: T0, previousSession: 0, turn, outcome: null }]], fresh({ claudeSessionId: 's1' }))
  const then = planBatch([result('x3', 0, { num_turns: 3, result: "/clear isn't available in this environment." })], () => given.state, RULES)
  t.same(then.outcomes, [{ turnId: 5, outcome: 'not_supported' }])
})

test('given a pending /clear, when the agent reconnects as a new process, then the clear is answered no_answer', async (t) => {
  const turn: ClearTurn = { kind: 'clear', id: 6, sessionNumber: 1, previousSession: 0, previousClaudeSession: null, cleared: false, timedOut: false }
  const given = after([[{ kind: 'clear', agentId: 'a', session: 1, at: T0, previousSession: 0, turn, outcome: null }]])
  const then = planBatch([{ kind: 'connect', agentId: 'a', session: 1, at: T1, newProcess: true }], () => given.state, RULES)
  t.same(then.outcomes, [{ turnId: 6, outcome: 'no_answer' }])
  t.same(then.rows, [])
})

test('given a later clear, when an earlier clear\'s outcome is reported, then it is stored in the current session', async (t) => {
  const then = planBatch([{ kind: 'clear_outcome', agentId: 'a', session: 2, at: T0, outcome: 'no_answer', clearSession: 1, previousSession: 0 }],
    () => fresh({ currentSession: 2, lastSeq: 10 }), RULES)
  t.same(then.rows.map(r => [r.seq, r.session_number, r.metadata?.session_number]), [[11, 2, 1]])
})

test('given a prompt, then it is prompt_sent and busy, and its result closes the turn', async (t) => {
  const given = after([[{ kind: 'prompt', agentId: 'a', session: 0, at: T0, content: 'do it' }]])
  t.same(given.last.rows.map(r => [r.event_type, r.content]), [['prompt_sent', 'do it'], ['activity_changed', null]])
  t.same(given.state.pendingTurns, [{ kind: 'prompt' }])
  const then = planBatch([result('r1', 0.1)], () => given.state, RULES)
  t.same(then.agents.get('a')?.pendingTurns, [])
})

test('a planned batch leaves the committed state alone (a failed commit changes nothing)', async (t) => {
  const turn: ClearTurn = { kind: 'clear', id: 8, sessionNumber: 1, previousSession: 0, previousClaudeSession: 's1', cleared: false, timedOut: false }
  const committed = fresh({ pendingTurns: [turn], claudeSessionId: 's1' })
  const snapshot = JSON.parse(JSON.stringify(committed))
  planBatch([text('u1', 'x', 1), line({ type: 'conversation_reset', uuid: 'r' }, 1), result('r2', 0, { num_turns: 0 })], () => committed, RULES)
  t.same(committed, snapshot)
})

test('the dedupe window keeps the newest uuids up to its capacity', async (t) => {
  const w = new RecentLines(3, ['a', 'b', 'c'])
  w.add('d')
  t.same(['a', 'b', 'c', 'd'].map(u => w.has(u)), [false, true, true, true])
  t.equal(w.size, 3)
})

test('the CLI\'s "(no content)" placeholder is never conversation, also re-sent with a new uuid when no clear waits', async (t) => {
  const placeholder = (uuid: string): Input => line({ uuid, session_id: 's2', message: { id: `m-${uuid}`, model: '<synthetic>', content: [{ type: 'text', text: '(no content)' }] } }, 1)
  // 2.1.120 after a reconnect: the clear was answered long ago, nothing is pending
  const given = after([[text('u1', 'hello')]]).state
  const then = planBatch([placeholder('u-resent-with-a-new-uuid')], () => given, RULES)
  t.same(then.rows, [], 'no event')
  // a synthetic message with words of its own (an API error reported by the CLI) is conversation
  const apiError = line({ uuid: 'u3', session_id: 's1', message: { id: 'm-3', model: '<synthetic>', content: [{ type: 'text', text: 'Prompt is too long' }] } })
  t.same(planBatch([apiError], () => given, RULES).rows.map(r => r.content), ['Prompt is too long'])
  // "(no content)" written by the model itself is conversation too
  const modelSays = line({ uuid: 'u4', session_id: 's1', message: { id: 'm-4', model: 'claude-sonnet-4-6', content: [{ type: 'text', text: '(no content)' }] } })
  t.same(planBatch([modelSays], () => given, RULES).rows.map(r => r.content), ['(no content)'])
})
