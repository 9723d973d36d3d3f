// Presence's decisions, given / when / then: which instances are alive, what a presence notice changes, what
// the sweep of dead instances concludes. No app, no database.
import { test } from 'tap'
import { APP_PREFIX, liveFromSessions, onDeadInstances, presenceChange } from '../../src/cluster/presence.js'

test('given the sessions of two instances, when this one\'s link is up, then all three are alive', async (t) => {
  const then = liveFromSessions([APP_PREFIX + 'i-1', APP_PREFIX + 'i-2'], 'i-3', true)
  t.same([...then].sort(), ['i-1', 'i-2', 'i-3'])
})

test('given this instance\'s link is down, when the sessions are listed, then only those listed are alive', async (t) => {
  const then = liveFromSessions([APP_PREFIX + 'i-1'], 'i-3', false)
  t.same([...then], ['i-1'])
})

test('given instance ids with spaces, when the sessions are listed, then only the prefix is taken off', async (t) => {
  const then = liveFromSessions([APP_PREFIX + 'node a'], 'me', false)
  t.same([...then], ['node a'])
})

test('given an agent shown nowhere, when a connected notice comes, then it is shown connected there', async (t) => {
  t.equal(presenceChange(undefined, { from: 'i-1', state: 'connected' }), 'connected')
})

test('given an agent shown on one instance, when it connects to another, then it is shown on the other', async (t) => {
  t.equal(presenceChange('i-1', { from: 'i-2', state: 'connected' }), 'connected')
})

test('given an agent shown on an instance, when that instance says it disconnected, then it is shown disconnected', async (t) => {
  t.equal(presenceChange('i-1', { from: 'i-1', state: 'disconnected' }), 'disconnected')
})

test('given an agent that moved to another instance, when the old one says it disconnected (late, after the hand-over), then nothing changes', async (t) => {
  t.equal(presenceChange('i-2', { from: 'i-1', state: 'disconnected' }), null)
  t.equal(presenceChange(undefined, { from: 'i-1', state: 'disconnected' }), null)
})

test('given agents on live and dead instances, when the sweep runs, then it concludes those of the dead ones, with their instance', async (t) => {
  const shown = new Map([['a', 'i-1'], ['b', 'i-2'], ['c', 'i-1'], ['d', 'i-3']])
  const then = onDeadInstances(shown, new Set(['i-2', 'i-3']))
  t.same(then, [['a', 'i-1'], ['c', 'i-1']])
})

test('given every instance alive, when the sweep runs, then it concludes nothing', async (t) => {
  const then = onDeadInstances(new Map([['a', 'i-1']]), new Set(['i-1']))
  t.same(then, [])
})
