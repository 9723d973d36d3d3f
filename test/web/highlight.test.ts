import { test } from 'tap'
import { highlightSegments } from '../../web/src/highlight.js'

const marked = (text: string, ranges: Array<[number, number]>) =>
  highlightSegments(text, ranges).map(s => s.mark ? `[${s.text}]` : s.text).join('')

test('ranges become marked runs, the rest stays plain', async (t) => {
  t.equal(marked('run the migration now', [[8, 17]]), 'run the [migration] now')
  t.equal(marked('a b c', [[0, 1], [4, 5]]), '[a] b [c]')
  t.same(highlightSegments('plain', []), [{ text: 'plain', mark: false }])
  t.same(highlightSegments('', []), [{ text: '', mark: false }])
})

test('ranges out of order, overlapping, out of bounds or malformed do not break the text', async (t) => {
  const text = 'abcdefghij'
  t.equal(marked(text, [[6, 8], [0, 2], [1, 3]]), '[abc]def[gh]ij')
  t.equal(marked(text, [[-5, 2], [8, 99]]), '[ab]cdefgh[ij]')
  t.equal(marked(text, [[5, 5], [7, 3]]), text, 'empty and reversed ranges mark nothing')
  t.equal(marked(text, [[1.5, 3] as [number, number], ['x', 2] as unknown as [number, number], null as unknown as [number, number]]), text)
})

test('offsets are UTF-16 code units, as JavaScript strings count them', async (t) => {
  const text = '🙂 migrate'
  t.equal(marked(text, [[3, 10]]), '🙂 [migrate]')
})
