// What the tools answer (src/mcp/format.ts): given / when / then.
import { test } from 'tap'
import { aroundSplit, cut, toolEvent } from '../../src/mcp/format.js'

test('content and metadata are cut to max characters, never inside a surrogate pair, and say how much', async (t) => {
  t.same(cut('short', 10), { text: 'short', omitted: 0 })
  t.same(cut('abcdefghij', 4), { text: 'abcd', omitted: 6 })
  t.same(cut('ab😀cd', 3), { text: 'ab', omitted: 4 }, 'the emoji is not split')
  const e = toolEvent({ id: 9, agent_id: 'a', session_number: 2, seq: 5, event_type: 'tool_use', content: 'Bash', metadata: { command: 'x'.repeat(500) }, created_at: 'T' }, 100)
  t.same({ ...e, meta: e.meta?.length }, { seq: 5, session: 2, type: 'tool_use', time: 'T', content: 'Bash', meta: 100, omitted: JSON.stringify({ command: 'x'.repeat(500) }).length - 100 })
  t.same(toolEvent({ id: 1, agent_id: 'a', session_number: 0, seq: 1, event_type: 'activity_changed', content: null, metadata: {}, created_at: 'T' }, 100),
    { seq: 1, session: 0, type: 'activity_changed', time: 'T' }, 'nothing to show: no content, no meta')
})

test('around a seq: half the limit up to it (itself included), the rest after', async (t) => {
  t.same(aroundSplit(1), { upTo: 1, after: 0 })
  t.same(aroundSplit(3), { upTo: 2, after: 1 })
  t.same(aroundSplit(20), { upTo: 10, after: 10 })
})
