// The transcript mapper alone: record in, event drafts (or a boundary, a cost, a skip) out.
import { test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { agentIdForProject, costDelta, mapTranscriptRecord } from '../../src/protocol/transcript.js'
import { isValidAgentId } from '../../src/schemas/common.js'
import { fixturesDir } from '../helper.js'

const PROJECT = join(fixturesDir(), 'claude-code-2.1.331-transcripts', 'projects', '-home-dev-project')
const src = (line: number) => ({ kind: 'transcript' as const, file: 'f.jsonl', line })
const MAX = 256 * 1024

function records (file: string): any[] {
  return readFileSync(join(PROJECT, file), 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l))
}

test('an assistant record gives the live line\'s events, with where it came from', async (t) => {
  const record = records('b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl').find(r => r.type === 'assistant' && r.message.content[0].type === 'tool_use')
  const then = mapTranscriptRecord(record, src(7), MAX)
  t.equal(then.kind, 'events')
  if (then.kind !== 'events') return
  t.equal(then.uuid, record.uuid)
  t.equal(then.at, record.timestamp)
  t.same(then.drafts, [{
    event_type: 'tool_use',
    content: 'Bash',
    metadata: {
      message_id: 'msg_mock_4',
      uuid: record.uuid,
      parent_tool_use_id: null,
      model: 'claude-opus-5-5',
      id: 'toolu_bash_3',
      name: 'Bash',
      input: { command: 'echo hello-from-bash', description: 'Print a greeting' },
      source: src(7)
    }
  }])
})

test('a denied tool\'s result is a tool_result with is_error', async (t) => {
  const record = records('b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl').find(r => r.type === 'user' && Array.isArray(r.message.content) && r.message.content[0].is_error === true)
  const then = mapTranscriptRecord(record, src(1), MAX)
  t.match(then, { kind: 'events', prompt: false, drafts: [{ event_type: 'tool_result', content: "Tool 'Write': denied by policy", metadata: { is_error: true, tool_use_id: 'toolu_write_6' } }] })
})

test('a prompt is prompt_sent; the /clear command is the session boundary; harness notes are skipped', async (t) => {
  const [caveat, clear, localCommand] = records('4cfc1751-0d6a-495b-8de8-641c95cf5db8.jsonl').filter(r => r.type === 'user' || r.type === 'system')
  t.same(mapTranscriptRecord(caveat, src(2), MAX), { kind: 'skipped', type: 'user', known: true })
  t.same(mapTranscriptRecord(clear, src(3), MAX), { kind: 'clear', uuid: clear.uuid, at: clear.timestamp })
  t.same(mapTranscriptRecord(localCommand, src(4), MAX), { kind: 'skipped', type: 'system', known: true })
  const prompt = { type: 'user', uuid: 'p-1', timestamp: '2026-01-01T00:00:00Z', message: { role: 'user', content: 'Run the tests' } }
  t.same(mapTranscriptRecord(prompt, src(9), MAX), {
    kind: 'events',
    uuid: 'p-1',
    at: '2026-01-01T00:00:00.000Z',
    prompt: true,
    drafts: [{ event_type: 'prompt_sent', content: 'Run the tests', metadata: { uuid: 'p-1', source: src(9) } }]
  })
  const command = { type: 'user', uuid: 'c-1', message: { content: '<command-name>/model</command-name>\n<command-message>model</command-message>\n<command-args>opus</command-args>' } }
  t.match(mapTranscriptRecord(command, src(1), MAX), { kind: 'events', drafts: [{ event_type: 'prompt_sent', content: '/model opus' }] })
  t.match(mapTranscriptRecord({ type: 'user', isSidechain: true, message: { content: 'sub-task' } }, src(1), MAX), { kind: 'skipped' })
})

test('cost-state gives the running totals; record types nobody knows are counted as unknown', async (t) => {
  const cost = records('b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl').find(r => r.type === 'cost-state')
  t.same(mapTranscriptRecord(cost, src(1), MAX), {
    kind: 'cost', cost: { cost_usd: 0.005448, input_tokens: 627, output_tokens: 147, cache_read_tokens: 0, cache_creation_tokens: 0 }
  })
  t.same(mapTranscriptRecord({ type: 'queue-operation' }, src(1), MAX), { kind: 'skipped', type: 'queue-operation', known: true })
  t.same(mapTranscriptRecord({ type: 'teleport' }, src(1), MAX), { kind: 'skipped', type: 'teleport', known: false })
})

test('every record of the fixture maps, and the conversation ones carry uuids', async (t) => {
  for (const file of ['b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl', '4cfc1751-0d6a-495b-8de8-641c95cf5db8.jsonl']) {
    const mapped = records(file).map((r, i) => mapTranscriptRecord(r, src(i + 1), MAX))
    t.notOk(mapped.some(m => m.kind === 'skipped' && !m.known), `${file}: every type is known`)
    t.notOk(mapped.some(m => (m.kind === 'events' && m.drafts.length > 0) && m.uuid === null), 'conversation records have uuids')
  }
})

test('cost deltas grow with the counter and restart when it goes down', async (t) => {
  const a = { cost_usd: 0.5, input_tokens: 10, output_tokens: 5, cache_read_tokens: 0, cache_creation_tokens: 0 }
  t.same(costDelta(a, { ...a, cost_usd: 0.75, input_tokens: 30 }), { cost_usd: 0.25, input_tokens: 20, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0 })
  t.same(costDelta(a, { ...a, cost_usd: 0.1 }).cost_usd, 0.1)
})

test('the agent id of a project folder is stable and valid', async (t) => {
  t.equal(agentIdForProject('-home-dev-project'), 'claude-home-dev-project')
  t.equal(agentIdForProject('-home-dev-project'), agentIdForProject('-home-dev-project'))
  t.equal(agentIdForProject('---'), 'claude-root')
  const long = agentIdForProject('-' + 'a'.repeat(300))
  t.equal(long.length, 128)
  t.not(long, agentIdForProject('-' + 'a'.repeat(299) + 'b'))
  for (const f of ['-home-dev-project', '-Users-jö-my project', '-' + 'x'.repeat(500), '']) t.ok(isValidAgentId(agentIdForProject(f)), f)
})
