// Ownership's decisions, given / when / then: which agents a write may not touch, which survive a reconnection,
// how a request to hand an agent over is answered. No app, no database.
import { test } from 'tap'
import { answerToRelease, keptAfterReconnect, lostAgents } from '../../src/cluster/ownership.js'

test('given agents taken at their current epochs, when a write for them is fenced, then none is lost', async (t) => {
  const owned = new Map([['a', 3], ['b', 1]])
  const then = lostAgents(['a', 'b'], owned, new Map([['a', 3], ['b', 1]]))
  t.same(then, [])
})

test('given an agent another instance took since (its epoch moved on), when a write for it is fenced, then it alone is lost', async (t) => {
  const owned = new Map([['a', 3], ['b', 1]])
  const then = lostAgents(['a', 'b'], owned, new Map([['a', 4], ['b', 1]]))
  t.same(then, ['a'])
})

test('given a write for an agent this instance never took, when it is fenced, then it is lost, whatever the database says', async (t) => {
  const then = lostAgents(['x'], new Map(), new Map([['x', 1]]))
  t.same(then, ['x'])
})

test('given an owned agent whose row is gone, when a write for it is fenced, then it is lost', async (t) => {
  const then = lostAgents(['a'], new Map([['a', 2]]), new Map())
  t.same(then, ['a'])
})

test('given the link came back, when the lock is taken again at the same epoch, then the agent is kept', async (t) => {
  t.equal(keptAfterReconnect(true, 5, 5), true)
})

test('given the link came back, when another instance holds the lock, then the agent is given up', async (t) => {
  t.equal(keptAfterReconnect(false, 5, 5), false)
})

test('given the link came back, when the lock is free but the epoch moved on (taken and let go meanwhile), then the agent is given up', async (t) => {
  t.equal(keptAfterReconnect(true, 6, 5), false)
  t.equal(keptAfterReconnect(true, undefined, 5), false)
})

test('given an agent owned here and not being handed over, when another instance asks for it, then it is handed over', async (t) => {
  t.equal(answerToRelease({ owned: true, releasing: false, acquiring: false }), 'hand over')
})

test('given an agent already being handed over, when another instance asks for it too, then nothing more is done', async (t) => {
  t.equal(answerToRelease({ owned: true, releasing: true, acquiring: false }), 'nothing')
})

test('given an agent not owned here, when another instance asks for it, then it is told at once the agent is released', async (t) => {
  t.equal(answerToRelease({ owned: false, releasing: false, acquiring: false }), 'released')
  t.equal(answerToRelease({ owned: false, releasing: true, acquiring: false }), 'released', 'the hand-over already let it go')
})

test('given an agent being taken here, when another instance asks for it, then it is not told released (it waits for the lock)', async (t) => {
  t.equal(answerToRelease({ owned: false, releasing: false, acquiring: true }), 'nothing')
})
