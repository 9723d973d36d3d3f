// The notices instances send each other, given / when / then: which ones an instance acts on, and a committed
// batch as commit notices under PostgreSQL's payload limit. No app, no database.
import { test } from 'tap'
import { commitNotices, decodeNotice, encodeNotice, MAX_PAYLOAD, noticeFor, type Notice } from '../../src/cluster/notices.js'
import { commitOrder } from '../../src/cluster/commits.js'

const presence: Notice = { t: 'presence', from: 'i-1', agent: 'a', state: 'connected' }
const release: Notice = { t: 'release', from: 'i-1', to: 'i-2', agent: 'a' }

test('given a notice for everyone, when any instance hears it, then it acts on it (its own included)', async (t) => {
  t.same(noticeFor(encodeNotice(presence), 'i-2'), presence)
  t.same(noticeFor(encodeNotice(presence), 'i-1'), presence)
})

test('given a notice for one instance, when others hear it, then only that one acts on it', async (t) => {
  t.same(noticeFor(encodeNotice(release), 'i-2'), release)
  t.equal(noticeFor(encodeNotice(release), 'i-3'), null)
  t.equal(noticeFor(encodeNotice(release), 'i-1'), null, 'not the sender either')
})

test('given payloads that are not notices, when they are heard, then they are passed over', async (t) => {
  for (const payload of [undefined, '', 'not json', 'null', '42', '"text"', '{"from":"i-1"}', '{"t":"commit"}']) {
    t.equal(noticeFor(payload, 'i-1'), null, String(payload))
  }
  t.equal(decodeNotice('{"t":"something-newer","from":"i-9"}')?.t, 'something-newer', 'a newer kind still decodes (and is ignored by the switch)')
})

test('given a batch of several agents, when it is committed, then one notice carries each agent\'s seq range and highest id', async (t) => {
  const stored = [
    { agent_id: 'a', seq: 4, id: 10 },
    { agent_id: 'b', seq: 1, id: 11 },
    { agent_id: 'a', seq: 5, id: 12 }
  ]
  const order = commitOrder(9, stored)
  t.same(order, { prev: 9, max: 12 })
  const then = commitNotices('i-1', stored, order).map(p => decodeNotice(p))
  t.same(then, [{ t: 'commit', from: 'i-1', ranges: [['a', 4, 5, 12], ['b', 1, 1, 11]], order: { prev: 9, max: 12 } }])
})

test('given an empty batch, when it is committed, then its order is where it stands and no notice is sent', async (t) => {
  t.same(commitOrder(7, []), { prev: 7, max: 7 })
  t.same(commitNotices('i-1', [], { prev: 7, max: 7 }), [])
})

test('given a batch of many agents with long ids, when it is committed, then its notices each stay under the limit and carry every agent once', async (t) => {
  // multi-byte ids: the limit is in bytes
  const stored = Array.from({ length: 400 }, (_, i) => ({ agent_id: `agent-é-${i}-${'x'.repeat(40)}`, seq: 1, id: i + 1 }))
  const then = commitNotices('i-1', stored, commitOrder(0, stored))
  t.ok(then.length > 1, `split over ${then.length} notices`)
  for (const payload of then) t.ok(Buffer.byteLength(payload) < MAX_PAYLOAD, `${Buffer.byteLength(payload)} bytes`)
  const agents = then.flatMap(p => (decodeNotice(p) as Extract<Notice, { t: 'commit' }>).ranges.map(r => r[0]))
  t.same(agents, stored.map(e => e.agent_id))
})
