// Replays the real Claude Code recordings (test/fixtures/recordings) through a real socket and checks the stored history.
import { test } from 'tap'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { parseFrame, parseLine } from '../src/protocol/ndjson.js'
import { loadConfig } from '../src/config.js'
import { build, collect, sync, walk, sessionsOf, listen, connect, closed, fixturesDir, fixtureLines, transcript, type TranscriptRecord, disconnected } from './helper.js'

const RECORDINGS = ['claude-code-2.1.112', 'claude-code-2.1.120', 'claude-code-2.1.112-stdio', 'claude-code-2.1.331-stdio']
const CLEAR_OUTCOME: Record<string, string> = {
  'claude-code-2.1.112': 'not_supported',
  'claude-code-2.1.120': 'cleared',
  'claude-code-2.1.112-stdio': 'not_supported',
  'claude-code-2.1.331-stdio': 'cleared'
}

test('every line of every agent-lines file parses', async (t) => {
  const dir = fixturesDir()
  const files = readdirSync(dir, { withFileTypes: true }).filter(d => d.isDirectory())
    .flatMap(d => readdirSync(join(dir, d.name)).filter(f => f.endsWith('agent-lines.ndjson')).map(f => [d.name, f]))
  t.ok(files.length >= 5, `${files.length} files`)
  for (const [recording, file] of files) {
    const lines = fixtureLines(recording, file)
    const bad = lines.map(parseLine).filter(p => !p.ok)
    t.same(bad, [], `${recording}/${file}: ${lines.length} lines`)
    // and the same lines as one frame
    t.equal(parseFrame(lines.join('\n')).filter(p => p.ok).length, lines.length)
  }
})

/** One `in` record with what the test knows about it: the scenario it was first sent in, its message. */
interface Sent { conn: number, step: string, frame: string, messages: any[] }

interface Connection { headers: Record<string, string>, frames: Sent[] }

/** The recording as connections of frames, in order; a stdio recording is one connection of its lines. */
function connectionsOf (records: TranscriptRecord[]): Connection[] {
  const conns = new Map<number, Connection>()
  let step = '(start)'
  for (const r of records) {
    if (r.dir === 'step') { step = r.data; continue }
    const n = r.conn ?? 1
    if (r.dir === 'open') {
      const { headers } = JSON.parse(r.data)
      const id = headers['x-last-request-id']
      conns.set(n, { headers: id === undefined ? {} : { 'x-last-request-id': id }, frames: [] })
      continue
    }
    if (r.dir !== 'in') continue
    let conn = conns.get(n)
    if (conn === undefined) { conn = { headers: {}, frames: [] }; conns.set(n, conn) }
    conn.frames.push({ conn: n, step, frame: r.data, messages: parseFrame(r.data).flatMap(p => p.ok ? [p.message] : []) })
  }
  return [...conns.values()]
}

/** What the recording should leave in the log, worked out from the lines themselves (first sight of each uuid). */
function expectedFrom (frames: Sent[], skip: (m: any, step: string) => boolean = () => false) {
  const seen = new Set<string>()
  const events: Array<{ type: string, content: string | null, uuid: string | null, step: string }> = []
  const stepOf = new Map<string, string>()
  const results: Array<{ total: number, process: number }> = []
  for (const f of frames) {
    for (const m of f.messages) {
      if (typeof m.uuid === 'string') {
        if (seen.has(m.uuid)) continue
        seen.add(m.uuid)
        stepOf.set(m.uuid, f.step)
      }
      if (m.type === 'result' && typeof m.total_cost_usd === 'number') results.push({ total: m.total_cost_usd, process: 0 })
      if (skip(m, f.step)) continue
      const uuid = m.uuid ?? null
      // the CLI's "(no content)" stand-in for an empty turn (2.1.120 after /clear) says nothing: not stored
      const placeholder = m.message?.model === '<synthetic>' && (m.message?.content ?? []).every((b: any) => b.type === 'text' && b.text.trim() === '(no content)')
      if (m.type === 'assistant' && !placeholder) {
        for (const b of m.message?.content ?? []) {
          if (b.type === 'text' && b.text.trim() !== '') events.push({ type: 'output', content: b.text, uuid, step: f.step })
          if (b.type === 'thinking' && b.thinking.trim() !== '') events.push({ type: 'thinking', content: b.thinking, uuid, step: f.step })
          if (b.type === 'tool_use') events.push({ type: 'tool_use', content: b.name, uuid, step: f.step })
        }
      } else if (m.type === 'user' && Array.isArray(m.message?.content)) {
        for (const b of m.message.content) {
          if (b.type !== 'tool_result') continue
          const text = typeof b.content === 'string' ? b.content : b.content.filter((c: any) => c.type === 'text').map((c: any) => c.text).join('\n')
          events.push({ type: 'tool_result', content: text, uuid, step: f.step })
        }
      } else if (m.type === 'result') {
        events.push({ type: 'result', content: m.result ?? null, uuid, step: f.step })
        events.push({ type: 'activity_changed', content: null, uuid: null, step: f.step })
      }
    }
  }
  return { events, stepOf, results }
}

/** Each result's share of the cumulative counter: its growth since the previous result, all of it after a drop. */
function growthOf (totals: number[]): number[] {
  let baseline = 0
  return totals.map((total) => {
    const growth = total >= baseline ? total - baseline : total
    baseline = total
    return growth
  })
}

/** What the cumulative counter grew by over one process. */
function counterGrowth (totals: number[]): number {
  return growthOf(totals).reduce((a, b) => a + b, 0)
}

/** Sends each connection's frames exactly as recorded on a new real socket; `atClear` runs when the `clear` step begins. */
async function replay (t: any, app: FastifyInstance, url: string, agentId: string, conns: Connection[], atClear?: (ws: WebSocket, inbox: ReturnType<typeof collect>) => Promise<void>): Promise<void> {
  let clearDone = atClear === undefined
  for (const conn of conns) {
    const ws = await connect(t, `${url}/ws/${agentId}`, conn.headers)
    const inbox = collect(ws)
    for (const f of conn.frames) {
      if (!clearDone && f.step === 'clear') {
        clearDone = true
        await sync(app, ws, inbox)
        await (atClear as NonNullable<typeof atClear>)(ws, inbox)
      }
      ws.send(f.frame)
    }
    await sync(app, ws, inbox)
    const gone = closed(ws)
    ws.close()
    await gone
    await disconnected(app, agentId)
  }
  t.ok(clearDone, 'the clear step was reached')
}

function checkLog (t: any, stored: any[], expected: ReturnType<typeof expectedFrom>['events']): void {
  const conversation = stored.filter(e => !['prompt_sent', 'context_cleared', 'context_clear_outcome'].includes(e.event_type))
  t.equal(conversation.length, expected.length, 'each content block exactly once')
  let mismatches = 0
  for (let i = 0; i < Math.min(conversation.length, expected.length); i++) {
    const got = conversation[i]
    const want = expected[i]
    let same = got.event_type === want.type && (want.uuid === null || got.metadata?.uuid === want.uuid)
    if (same && got.content !== want.content) {
      // a block over MAX_EVENT_CONTENT_BYTES is kept as its first bytes, with the original size
      const cut = got.metadata?.truncated
      same = cut !== undefined && want.content !== null && want.content.startsWith(got.content) &&
        Buffer.byteLength(want.content) === cut.original_bytes && got.content.length > 0
    }
    if (!same && mismatches++ < 5) {
      t.fail(`event ${i} (seq ${got.seq as number}): got ${got.event_type as string} ${JSON.stringify(got.content)?.slice(0, 80)}, want ${want.type} ${JSON.stringify(want.content)?.slice(0, 80)}`)
    }
  }
  t.equal(mismatches, 0, 'the log is the recording\'s content, in order')
}

function checkScenarios (t: any, stored: any[], stepOf: Map<string, string>): void {
  const stepOfEvent = (e: any): string | undefined => stepOf.get(e.metadata?.uuid)
  const inStep = (step: string, type: string) => stored.filter(e => e.event_type === type && stepOfEvent(e) === step)
  t.same(stored.filter(e => e.event_type === 'thinking').map(stepOfEvent), ['thinking'], 'thinking: only in its scenario')
  t.match(inStep('thinking', 'thinking')[0]?.content, /step by step/)
  t.match(inStep('bash', 'tool_use'), [{ content: 'Bash', metadata: { name: 'Bash', input: { command: 'echo hello-from-bash' } } }])
  const bashResult = inStep('bash', 'tool_result')
  t.match(bashResult, [{ content: 'hello-from-bash', metadata: { is_error: false, tool_use_id: inStep('bash', 'tool_use')[0]?.metadata.id } }])
  t.match(inStep('read', 'tool_use'), [{ content: 'Read' }])
  t.match(inStep('read', 'tool_result'), [{ content: /notes/, metadata: { is_error: false } }])
  t.match(inStep('write-denied', 'tool_use'), [{ content: 'Write' }])
  t.match(inStep('write-denied', 'tool_result'), [{ content: "Tool 'Write': denied by policy", metadata: { is_error: true } }])
  t.match(inStep('multiline', 'output'), [{ content: /^Line one\n\n```js\nconsole\.log\("héllo ✓ \\u0000 \\"quoted\\""\)\n```\nLast line/ }])
  t.match(inStep('big-output', 'output'), [{ metadata: { truncated: { original_bytes: Number } } }])
  const apiError = inStep('api-error', 'result')
  t.equal(apiError.length, 1)
  t.match(apiError[0], { metadata: { is_error: true, subtype: 'success' } })
  const interrupted = stored.filter(e => e.event_type === 'result' && stepOfEvent(e) === 'interrupt')
  t.match(interrupted, [{ metadata: { subtype: 'error_during_execution' } }])
}

async function checkCost (t: any, app: FastifyInstance, agentId: string, expected: number): Promise<void> {
  const s = await sessionsOf(app, agentId)
  const sum = s.sessions.reduce((a: number, x: any) => a + x.cost_usd, 0)
  t.ok(Math.abs(sum - expected) < 1e-9, `sessions cost ${sum} = counter growth ${expected}`)
  const agent = (await app.inject({ method: 'GET', url: '/agents' })).json().agents.find((a: any) => a.agent_id === agentId)
  t.ok(Math.abs(agent.cost_usd - expected) < 1e-9, `agent cost ${agent.cost_usd as number}`)
}

for (const recording of RECORDINGS) {
  const conns = connectionsOf(transcript(recording))
  const frames = conns.flatMap(c => c.frames)

  test(`${recording}: replayed as recorded, every block once, cost = counter growth`, async (t) => {
    const app = await build(t)
    const url = await listen(app)
    t.ok(conns.length >= 1)
    t.ok(conns.slice(1).every(c => c.headers['x-last-request-id'] !== undefined), 'reconnects of the same process carry x-last-request-id')
    await replay(t, app, url, 'agent-1', conns)
    const stored = await walk(app, 'agent-1')
    const expected = expectedFrom(frames)
    checkLog(t, stored, expected.events)
    checkScenarios(t, stored, expected.stepOf)
    t.ok(stored.every(e => e.session_number === 0), 'no clear-context, no new session')
    const sent = frames.flatMap(f => f.messages).filter(m => typeof m.uuid === 'string').length
    t.equal(sent > expected.stepOf.size, recording === 'claude-code-2.1.120', `only 2.1.120 re-sends lines (${sent} sent, ${expected.stepOf.size} distinct)`)
    const totals = expected.results.map(r => r.total)
    const costs = stored.filter(e => e.event_type === 'result').map(e => e.metadata.cost_usd)
    const growth = growthOf(totals)
    t.ok(costs.length === growth.length && costs.every((c, i) => Math.abs(c - growth[i]) < 1e-9), `each result's cost_usd is its counter growth: ${JSON.stringify(costs)}`)
    await checkCost(t, app, 'agent-1', counterGrowth(totals))
    const info = (await app.inject({ method: 'GET', url: '/agents' })).json().agents[0].info
    const inits = frames.flatMap(f => f.messages).filter(m => m.type === 'system' && m.subtype === 'init')
    t.equal(info.claude_code_version, inits[0].claude_code_version)
  })

  test(`${recording}: clear-context at the recorded /clear is ${CLEAR_OUTCOME[recording]}, its reply is not conversation`, async (t) => {
    const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '5000' } })
    const url = await listen(app)
    let pending: Promise<{ json: () => any }> | undefined
    await replay(t, app, url, 'agent-1', conns, async (ws, inbox) => {
      pending = Promise.resolve(app.inject({ method: 'POST', url: '/agents/agent-1/clear-context' }))
      // the recorded reply is sent (by the rest of the replay) while the POST waits for it
      await inbox.next(m => m.type === 'user' && m.message?.content === '/clear')
    })
    const answer = (await (pending as NonNullable<typeof pending>)).json()
    t.same(answer, { agent_id: 'agent-1', session_number: 1, previous_session: 0, agent_context: CLEAR_OUTCOME[recording] })

    const stored = await walk(app, 'agent-1')
    // the reply turn (the lines first sent during the clear step) leaves no output or result
    const expected = expectedFrom(frames, (m, step) => step === 'clear' && ['assistant', 'result'].includes(m.type))
    checkLog(t, stored, expected.events)
    checkScenarios(t, stored, expected.stepOf)
    const marks = stored.filter(e => e.event_type.startsWith('context_'))
    t.match(marks, [
      { event_type: 'context_cleared', session_number: 1, metadata: { previous_session: 0, session_number: 1 } },
      { event_type: 'context_clear_outcome', session_number: 1, metadata: { agent_context: CLEAR_OUTCOME[recording] } }
    ])
    const clearedAt = marks[0].seq
    const sessionFor = (e: any): number => e.seq >= clearedAt ? 1 : 0
    t.ok(stored.every(e => e.session_number === sessionFor(e)), 'before the barrier: 0, after: 1')
    t.ok(stored.some(e => e.event_type === 'output' && e.session_number === 1), 'the conversation went on in session 1')
    // the reply's cost still counts
    await checkCost(t, app, 'agent-1', counterGrowth(expected.results.map(r => r.total)))
  })
}

test('claude-code-2.1.331-stdio --resume: a new process on the same agent adds its turn, re-sends nothing', async (t) => {
  const recording = 'claude-code-2.1.331-stdio'
  const first = connectionsOf(transcript(recording))
  const resumed = connectionsOf(transcript(recording, 'resume-transcript.jsonl'))
  t.equal(resumed.length, 1)
  t.same(resumed[0].headers, {}, 'a new process: no x-last-request-id')
  const app = await build(t)
  const url = await listen(app)
  await replay(t, app, url, 'agent-1', first)
  await replay(t, app, url, 'agent-1', resumed)
  const stored = await walk(app, 'agent-1')
  const frames = [...first, ...resumed].flatMap(c => c.frames)
  const expected = expectedFrom(frames)
  checkLog(t, stored, expected.events)
  t.match(stored.slice(-3), [
    { event_type: 'output', content: /after the resume/ },
    { event_type: 'result' },
    { event_type: 'activity_changed' }
  ])
  // a new process normally counts from zero, but one started with --resume continues the resumed session's
  // counter (0.003672 → 0.004952): only that growth is the resumed turn's cost
  const totals = (c: Connection[]): number[] => expectedFrom(c.flatMap(x => x.frames)).results.map(r => r.total)
  await checkCost(t, app, 'agent-1', counterGrowth([...totals(first), ...totals(resumed)]))
})

/** How far back the deepest re-send reaches: the most distinct lines (by uuid) taken in since the re-sent line's first copy. */
function replayDepth (frames: Sent[]): number {
  const firstAt = new Map<string, number>()
  let depth = 0
  for (const m of frames.flatMap(f => f.messages)) {
    if (typeof m.uuid !== 'string') continue
    const at = firstAt.get(m.uuid)
    if (at === undefined) firstAt.set(m.uuid, firstAt.size)
    else depth = Math.max(depth, firstAt.size - at)
  }
  return depth
}

test('claude-code-2.1.120: its deepest replay fits the default DEDUPE_WINDOW_LINES; a window that deep drops it all, a smaller one does not', async (t) => {
  const recording = 'claude-code-2.1.120'
  const conns = connectionsOf(transcript(recording))
  const frames = conns.flatMap(c => c.frames)
  const depth = replayDepth(frames)
  const defaults = loadConfig({})
  t.ok(depth > 10, `2.1.120 re-sends lines from ${depth} lines back`)
  t.ok(depth * 10 <= defaults.dedupeWindowLines, `the default window (${defaults.dedupeWindowLines}) is over ten times that`)
  for (const other of RECORDINGS.filter(r => r !== recording)) {
    t.equal(replayDepth(connectionsOf(transcript(other)).flatMap(c => c.frames)), 0, `${other} re-sends nothing`)
  }
  const expected = expectedFrom(frames)

  const exact = await build(t, { env: { DEDUPE_WINDOW_LINES: String(depth) } })
  await replay(t, exact, await listen(exact), 'agent-1', conns)
  checkLog(t, await walk(exact, 'agent-1'), expected.events)

  const small = await build(t, { env: { DEDUPE_WINDOW_LINES: '10' } })
  await replay(t, small, await listen(small), 'agent-1', conns)
  const stored = (await walk(small, 'agent-1')).filter(e => e.metadata?.uuid !== undefined)
  const copies = stored.length - expected.events.filter(e => e.uuid !== null).length
  t.ok(copies > 0, `with a window of 10 the replays store ${copies} events a second time`)
})
