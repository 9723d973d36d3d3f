import { test } from 'tap'
import { EMPTY_SPAN, grow, newerThan, olderThan } from '../../web/src/span.js'

const ev = (...seqs: number[]) => seqs.map(seq => ({ seq }))
const seqs = (events: Array<{ seq: number }>) => events.map(e => e.seq)

test('a page shown first sets the span; later pages add only what is outside it', async (t) => {
  const first = newerThan(EMPTY_SPAN, ev(10, 9, 8))
  t.same(seqs(first), [8, 9, 10], 'oldest first, whatever the order of the page')
  const span = grow(EMPTY_SPAN, first)
  t.same(span, { oldest: 8, newest: 10 })
  t.same(seqs(olderThan(span, ev(7, 6, 8, 9))), [6, 7], 'an older page that overlaps adds only the older events')
  t.same(seqs(newerThan(span, ev(9, 10, 11, 11, 12))), [11, 12], 'a stream that replays adds each new event once')
})

test('growing keeps both ends', async (t) => {
  let span = grow(EMPTY_SPAN, ev(5, 6))
  span = grow(span, ev(3, 4))
  span = grow(span, ev(7))
  span = grow(span, [])
  t.same(span, { oldest: 3, newest: 7 })
})

test('after a reconnect the stream resends from the newest shown: nothing is added twice', async (t) => {
  let span = grow(EMPTY_SPAN, ev(1, 2, 3))
  const shown: number[] = [1, 2, 3]
  for (const chunk of [ev(4, 5), ev(5, 6), ev(3, 4, 5, 6, 7)]) {
    const add = newerThan(span, chunk)
    shown.push(...seqs(add))
    span = grow(span, add)
  }
  t.same(shown, [1, 2, 3, 4, 5, 6, 7])
})
