// Commit order across instances, given / when / then: which commits are known, and when a gap closes.
import { test } from 'tap'
import { KnownCommits } from '../../src/live/commit-order.js'

test('given everything through id 10 is known, when the next commit comes, then it is in order and known through its end', async (t) => {
  const given = new KnownCommits(10)
  t.equal(given.record(10, 14), true)
  t.equal(given.through, 14)
})

test('given a commit not announced yet, when a later one comes first, then it is held until the gap closes', async (t) => {
  const given = new KnownCommits(10)
  t.equal(given.record(14, 20), false, 'ids 11-14 are committed elsewhere and not known yet')
  t.equal(given.through, 10)
  t.equal(given.record(20, 22), false, 'still behind the same gap')
  t.equal(given.through, 10)
  t.equal(given.record(10, 14), true, 'the missing commit')
  t.equal(given.through, 22, 'and every commit held behind it')
})

test('given a commit already known, when it is recorded again, then nothing moves back', async (t) => {
  const given = new KnownCommits(10)
  given.record(10, 14)
  t.equal(given.record(10, 14), true)
  t.equal(given.through, 14)
})

test('given held commits, when notices may have been missed, then settling knows all of them', async (t) => {
  const given = new KnownCommits(5)
  given.record(8, 9)
  given.record(12, 15)
  given.settle()
  t.equal(given.through, 15)
  t.equal(given.record(15, 16), true, 'nothing is held any more')
})
