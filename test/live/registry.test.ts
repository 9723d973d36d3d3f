// Who follows what, given / when / then: the first and the last follower of a log are told apart (the hub keeps
// a recent window in memory exactly between them), and the windows route each commit to the agent's own.
import { test } from 'tap'
import { newFollower, type FollowerStart } from '../../src/live/follower.js'
import type { LiveSink } from '../../src/live/messages.js'
import { RecentWindows } from '../../src/live/recent.js'
import { FollowerRegistry } from '../../src/live/registry.js'
import type { StoredEvent } from '../../src/schemas/events.js'

const sink = {} as LiveSink
const agentFollower = (agentId: string) => newFollower({ scope: 'agent', agentId, position: 0, fromStart: true, types: null, session: null, agents: null }, sink)
const globalFollower = (over: Partial<FollowerStart> = {}) =>
  newFollower({ scope: 'global', agentId: '', position: 0, fromStart: true, types: null, session: null, agents: null, ...over }, sink)

test('given no follower, when two follow one agent and leave, then only the first added and the last gone say so', async (t) => {
  const registry = new FollowerRegistry()
  const [a1, a2] = [agentFollower('a'), agentFollower('a')]
  t.equal(registry.add(a1), true)
  t.equal(registry.add(a2), false)
  t.equal(registry.follows('a'), true)
  t.same([...registry.ofAgent('a')], [a1, a2])
  t.same([...registry.ofAgent('b')], [], 'an agent nobody follows')
  t.equal(registry.delete(a1), false)
  t.equal(registry.delete(a2), true)
  t.equal(registry.delete(a2), false, 'a follower leaves once')
  t.same([registry.follows('a'), registry.agents, registry.all.size], [false, 0, 0])
})

test('given global followers, then they are counted apart from the agents\' ones', async (t) => {
  const registry = new FollowerRegistry()
  const g1 = globalFollower()
  const g2 = globalFollower({ agents: ['a'] })
  t.equal(registry.add(g1), true)
  t.equal(registry.add(g2), false)
  t.equal(registry.add(agentFollower('a')), true)
  t.same([registry.globals.size, registry.agents, registry.all.size], [2, 1, 3])
  t.equal(registry.delete(g2), false)
  t.equal(registry.delete(g1), true)
})

function event (agentId: string, seq: number, id: number): StoredEvent {
  return { id, agent_id: agentId, session_number: 0, seq, event_type: 'output', content: 'x', metadata: null, created_at: '2026-01-01T00:00:00.000Z' }
}

test('given windows for agent a and the global stream, when events of a and b commit, then each window holds its own', async (t) => {
  const windows = new RecentWindows(100)
  windows.openAgent('a', 4)
  windows.openGlobal(10)
  windows.add(event('a', 5, 11))
  windows.add(event('b', 1, 12))
  t.same(windows.agent('a')?.after(4, 10)?.map(e => e.seq), [5])
  t.equal(windows.agent('b'), null, 'nobody follows b')
  t.same(windows.global?.after(10, 10)?.map(e => e.id), [11, 12])
  t.equal(windows.count, 2)
  t.ok(windows.bytes > 0)
  windows.dropAgent('a')
  windows.dropGlobal()
  t.same([windows.count, windows.bytes], [0, 0], 'their memory is given back')
})
