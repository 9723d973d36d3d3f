// Which line a close blames for being too big for the server, given / when / then: lines sent in, a culprit out.
import { test } from 'tap'
import { blameTooBig, SUSPECT_WITHIN_MS, type Sent } from '../../../src/cli/relay/too-big.js'

const NOW = 100000
const short = 'x'.repeat(10)
const long = 'y'.repeat(1000)
const longer = 'z'.repeat(2000)

test('given lines sent on a connection, when the server closes it with 1009, then the longest is the culprit, however old', async (t) => {
  const sent: Sent[] = [{ line: longer, at: NOW - 60000 }, { line: long, at: NOW - 10 }, { line: short, at: NOW }]
  t.same(blameTooBig(sent, 1009, NOW, null), { culprit: longer, suspect: null })
})

test('given a long line just sent, when the connection breaks (1006), then it is suspected first and blamed the second time', async (t) => {
  const sent: Sent[] = [{ line: short, at: NOW - 5 }, { line: long, at: NOW - 1 }]
  const first = blameTooBig(sent, 1006, NOW, null)
  t.same(first, { culprit: null, suspect: long }, 'a network error is not a refusal: not yet')
  t.same(blameTooBig(sent, 1006, NOW + 500, first.suspect), { culprit: long, suspect: null })
  t.same(blameTooBig([{ line: longer, at: NOW }], 1006, NOW, long), { culprit: null, suspect: longer }, 'another line: a new suspect')
})

test('given lines sent a while ago, when the connection breaks (1006), then none of them is suspected', async (t) => {
  const sent: Sent[] = [{ line: longer, at: NOW - SUSPECT_WITHIN_MS - 1 }]
  t.same(blameTooBig(sent, 1006, NOW, 'earlier'), { culprit: null, suspect: 'earlier' })
})

test('given a suspect, when a close of another kind comes, then nothing is blamed and the suspicion is dropped', async (t) => {
  const sent: Sent[] = [{ line: longer, at: NOW }]
  for (const code of [1000, 1001, 1011, 4000]) t.same(blameTooBig(sent, code, NOW, longer), { culprit: null, suspect: null }, `${code}`)
})
