// How the writer gets past a failed batch, given / when / then: sizes and outcomes in, the next step out.
import { test } from 'tap'
import { failed, fresh, nextSize, passed, probeOf, type Isolation } from '../../src/store/isolate.js'

const MAX = 8

/**
 * Drives the decisions over a queue of items, some refused for what they hold (`poison`), the storage up or not:
 * returns what was committed, set aside, and how often the writer backed off.
 */
function drive (items: string[], poison: Set<string>, storageUp: (attempt: number) => boolean = () => true, limit = 100) {
  const queue = [...items]
  const committed: string[] = []
  const setAside: string[] = []
  let backOffs = 0
  let state: Isolation = fresh(MAX)
  for (let attempt = 0; queue.length > 0 && attempt < limit; attempt++) {
    const batch = queue.slice(0, nextSize(state, queue.length))
    const up = storageUp(attempt)
    if (up && !batch.some(i => poison.has(i))) {
      committed.push(...queue.splice(0, batch.length))
      state = passed(state, batch.length, MAX)
      continue
    }
    const decided = failed(state, batch.length, up, MAX)
    state = decided.state
    if (decided.then === 'back_off') backOffs++
    if (decided.then === 'set_aside') {
      setAside.push(...queue.splice(0, 1))
      state = passed(state, 1, MAX)
    }
  }
  return { committed, setAside, backOffs, state, left: queue }
}

const items = (n: number): string[] => Array.from({ length: n }, (_, i) => `i${i}`)

test('given a healthy storage and no refused item, when the queue drains, then it goes in full batches', async (t) => {
  const then = drive(items(20), new Set())
  t.same(then.committed, items(20))
  t.same(then.setAside, [])
  t.equal(nextSize(fresh(MAX), 20), MAX, 'a batch takes BATCH_MAX items')
})

test('given one refused item in a batch, when the writer narrows, then every other item commits in order and it alone is set aside', async (t) => {
  for (const at of [0, 3, 7, 8, 19]) {
    const all = items(20)
    const then = drive(all, new Set([`i${at}`]))
    t.same(then.setAside, [`i${at}`], `refused item at ${at} set aside`)
    t.same(then.committed, all.filter(i => i !== `i${at}`), `the others committed in order (refused at ${at})`)
    t.same(then.state, fresh(MAX), 'full batches again afterwards')
  }
})

test('given several refused items, some next to each other, then each is set aside and nothing else', async (t) => {
  const poison = new Set(['i2', 'i3', 'i4', 'i11', 'i19'])
  const then = drive(items(20), poison)
  t.same(then.setAside, ['i2', 'i3', 'i4', 'i11', 'i19'])
  t.same(then.committed, items(20).filter(i => !poison.has(i)))
})

test('given an item that fails alone once, then it is tried alone again before it is set aside', async (t) => {
  const once = failed({ size: 1, narrowed: 1, failures: 0 }, 1, true, MAX)
  t.equal(once.then, 'retry', 'one failure alone: tried again')
  const twice = failed(once.state, 1, true, MAX)
  t.equal(twice.then, 'set_aside', 'two failures alone, each with the probe passing: set aside')
})

test('given a storage that refuses everything, when batches fail with their probes, then the writer backs off and sets nothing aside', async (t) => {
  const down = 30
  const then = drive(items(20), new Set(), attempt => attempt >= down)
  t.same(then.setAside, [], 'nothing set aside during the outage')
  t.equal(then.backOffs, down, 'every failed attempt backs off')
  t.same(then.committed, items(20), 'everything commits in order once the storage is back')
})

test('given an outage while a refused item is being narrowed down, then its failure does not count and the narrowing resumes', async (t) => {
  const outage = failed({ size: 1, narrowed: 4, failures: 1 }, 1, false, MAX)
  t.equal(outage.then, 'back_off')
  t.same(outage.state, { size: 1, narrowed: 4, failures: 1 }, 'nothing counted against the item for a failure the probe shared')
  // a storage failing every third write: the refused item is still found, everything else commits in order
  const then = drive(items(12), new Set(['i5']), attempt => attempt % 3 !== 1)
  t.same(then.setAside, ['i5'])
  t.same(then.committed, items(12).filter(i => i !== 'i5'))
})

test('given a probe, then every text has filler of the same byte length and no line uuid', async (t) => {
  const batch = {
    rows: [{ content: 'héllo POISON', metadata: { input: 'x' }, line_uuid: 'u1', seq: 4 }, { content: null, metadata: null, line_uuid: null, seq: 5 }],
    agents: [{ key: 1, update: { info: '{"cwd":"/"}', last_seq: 5 } }]
  }
  const probe = probeOf(batch)
  t.equal(probe.rows[0].content, 'x'.repeat(Buffer.byteLength('héllo POISON')))
  t.same(probe.rows[0].metadata, { filler: 'x'.repeat('{"input":"x"}'.length) })
  t.equal(probe.rows[0].line_uuid, null)
  t.equal(probe.rows[0].seq, 4, 'positions kept')
  t.same(probe.rows[1], batch.rows[1])
  t.same(probe.agents[0].update, { info: JSON.stringify({ filler: 'x'.repeat(11) }), last_seq: 5 })
  t.equal(batch.rows[0].content, 'héllo POISON', 'the batch itself is untouched')
})
