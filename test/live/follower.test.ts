// What a live follower is sent, given / when / then: its filters, its bounded buffer, what of a buffered message
// is still news at its position, a catch-up page. Plain state, no app, no database, no socket.
import { test } from 'tap'
import { deliver, type FollowerStart, type FollowerState, fromPage, matches, newFollower, offer, unsent } from '../../src/live/follower.js'
import type { LiveMessage, LiveSink } from '../../src/live/messages.js'
import type { StoredEvent } from '../../src/schemas/events.js'

const T0 = '2026-01-01T00:00:00.000Z'

function event (seq: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return { id: 100 + seq, agent_id: 'a', session_number: 0, seq, event_type: 'output', content: 'x', metadata: null, created_at: T0, ...over }
}

const sink: LiveSink = {
  write: () => true,
  flush: () => true,
  drained: async () => {},
  heartbeat: () => {},
  shutdown: async () => {},
  abort: () => {}
}

function follower (over: Partial<FollowerStart> = {}): FollowerState {
  const f = newFollower({ scope: 'agent', agentId: 'a', position: 0, fromStart: false, types: null, session: null, agents: null, ...over }, sink)
  f.behind = false // past its first catch-up
  return f
}

const seqs = (messages: Array<{ message: LiveMessage }>) => messages.map(({ message: m }) =>
  m.kind === 'event' ? m.event.seq : m.kind === 'run' ? m.events.map(e => e.seq) : m.kind)

test('given filters by type and session, then only the events they name match', async (t) => {
  const f = follower({ types: ['result'], session: 2 })
  t.equal(matches(f, event(1, { event_type: 'result', session_number: 2 })), true)
  t.equal(matches(f, event(2, { event_type: 'output', session_number: 2 })), false)
  t.equal(matches(f, event(3, { event_type: 'result', session_number: 1 })), false)
  const g = follower({ scope: 'global', agentId: '', agents: ['b'] })
  t.equal(matches(g, event(1, { agent_id: 'b' })), true)
  t.equal(matches(g, event(1, { agent_id: 'a' })), false)
})

test('given a buffer of 3 events, when a commit of 2 and then one of 2 more comes, then the follower falls behind and holds nothing', async (t) => {
  const f = follower()
  let woken = 0
  f.wake = () => { woken++ }
  t.equal(offer(f, { kind: 'run', events: [event(1), event(2)], by: 'seq' }, 3, 2), false)
  t.equal(f.buffered, 2)
  t.equal(woken, 1, 'the pump is woken')
  t.equal(offer(f, { kind: 'run', events: [event(3), event(4)], by: 'seq' }, 3, 2), true, 'it fell behind')
  t.same([f.behind, f.buffer, f.buffered], [true, [], 0], 'the next read from the log has all of it')
  t.equal(offer(f, { kind: 'event', event: event(5), cursor: 5 }, 3), false, 'behind: nothing more is buffered or counted')
  t.same(f.buffer, [])
})

test('given followers with and without filters, when a commit is delivered, then the unfiltered share one run and the others get their events', async (t) => {
  const all1 = follower()
  const all2 = follower()
  const results = follower({ types: ['result'] })
  const commit = [event(1), event(2, { event_type: 'result' }), event(3)]
  t.equal(deliver([all1, all2, results], commit, 'seq', 100), 0)
  t.equal(all1.buffer[0], all2.buffer[0], 'one message object for both, formatted once by the transport')
  t.same(all1.buffer, [{ kind: 'run', events: commit, by: 'seq' }])
  t.same(results.buffer, [{ kind: 'event', event: commit[1], cursor: 2 }])
})

test('given global followers, when a commit is delivered, then events are placed by id and filtered by agent', async (t) => {
  const b = follower({ scope: 'global', agentId: '', agents: ['b'] })
  const commit = [event(1), event(7, { agent_id: 'b' })]
  deliver([b], commit, 'id', 100)
  t.same(b.buffer, [{ kind: 'event', event: commit[1], cursor: 107 }])
})

test('given a commit larger than the buffer, when delivered, then the count of followers that fell behind is returned', async (t) => {
  const small = follower()
  const large = follower()
  t.equal(deliver([small], [event(1), event(2)], 'seq', 1), 1)
  t.equal(deliver([large], [event(1), event(2)], 'seq', 2), 0)
  t.equal(small.behind, true)
})

test('given a follower at seq 3, when buffered messages are sent, then only what is past its position goes, a run whole or in part', async (t) => {
  const run: LiveMessage = { kind: 'run', events: [event(2), event(3), event(4), event(5)], by: 'seq' }
  t.same(seqs(unsent(run, 3)), [4, 5], 'a run read in part from the log goes event by event from the position')
  t.same(unsent(run, 3).map(u => u.position), [4, 5], 'each moves the position to itself')
  t.same(unsent(run, 1), [{ message: run, position: 5 }], 'a run wholly ahead goes as it is')
  t.same(unsent(run, 5), [], 'a run already read from the log goes not at all')
  t.same(unsent({ kind: 'event', event: event(3), cursor: 3 }, 3), [], 'an event already read')
  t.same(seqs(unsent({ kind: 'event', event: event(4), cursor: 4 }, 3)), [4])
  const marker: LiveMessage = { kind: 'caught_up', data: { latest_seq: 9 } }
  t.same(unsent(marker, 3), [{ message: marker, position: 3 }], 'a marker goes and leaves the position')
})

test('given a by-id run, then positions are ids', async (t) => {
  const run: LiveMessage = { kind: 'run', events: [event(1), event(2)], by: 'id' }
  t.same(unsent(run, 101).map(u => u.position), [102])
})

test('given a follower filtering by type, when a catch-up page comes, then it takes its events as one run and passes over the rest', async (t) => {
  const f = follower({ types: ['result'], position: 2 })
  const page = [event(2, { event_type: 'result' }), event(3), event(4, { event_type: 'result' }), event(5)]
  const then = fromPage(f, page)
  t.same(then.run.map(e => e.seq), [4], 'seq 2 was already sent, 3 and 5 are not asked for')
  t.equal(then.position, 5, 'the position passes over what the filter leaves out')
  t.equal(f.position, 2, 'the follower itself is not moved')
})

test('given a global follower, when a page by id comes, then positions are ids', async (t) => {
  const f = follower({ scope: 'global', agentId: '', position: 101 })
  const then = fromPage(f, [event(1), event(2), event(3)])
  t.same([then.run.map(e => e.id), then.position], [[102, 103], 103])
})
