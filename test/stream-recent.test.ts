// The recent-events window the live feed catches up from: what it claims to hold is exactly what it holds.
import { test } from 'tap'
import { Recent, type Budget } from '../src/live/recent.js'
import { byId, bySeq } from '../src/live/messages.js'
import type { StoredEvent } from '../src/schemas/events.js'

function event (seq: number, id = seq, content = 'x'): StoredEvent {
  return { id, agent_id: 'a', session_number: 0, seq, event_type: 'output', content, metadata: null, created_at: '2026-01-01T00:00:00.000Z' }
}

const seqs = (events: StoredEvent[] | null) => events === null ? null : events.map(e => e.seq)

test('holds every event above its floor, and says so exactly at the boundary', async (t) => {
  const r = new Recent(3, bySeq, 5, { bytes: 0, max: 1e9 })
  t.same(seqs(r.after(3, 100)), [], 'empty at the head it started from')
  t.equal(r.after(2, 100), null, 'seq 3 was never in it')
  for (let s = 4; s <= 12; s++) r.add(event(s))
  t.equal(r.floor, 7, 'the oldest four went, and the floor with them')
  t.same(seqs(r.after(7, 100)), [8, 9, 10, 11, 12])
  t.equal(r.after(6, 100), null, 'seq 7 is gone')
  t.same(seqs(r.after(9, 100)), [10, 11, 12])
  t.same(seqs(r.after(7, 2)), [8, 9], 'a page at most')
  t.same(seqs(r.after(12, 100)), [])
  t.same(seqs(r.after(40, 100)), [], 'ahead of the head')
})

test('bounded by a byte budget shared between windows, each keeping at least its newest event', async (t) => {
  const budget: Budget = { bytes: 0, max: 1000 }
  const r = new Recent(0, bySeq, 1000, budget)
  for (let s = 1; s <= 10; s++) r.add(event(s, s, 'y'.repeat(300)))
  const kept = r.after(r.floor, 100) ?? []
  t.ok(kept.length >= 1 && kept.length <= 3, `a few hundred-byte events fit (${kept.length})`)
  t.same(seqs(kept), Array.from({ length: kept.length }, (_, i) => 11 - kept.length + i))
  t.ok(budget.bytes <= budget.max)
  const other = new Recent(0, bySeq, 1000, budget)
  other.add(event(1, 1, 'z'.repeat(5000)))
  t.same(seqs(other.after(0, 100)), [1], 'one event bigger than the budget is still kept')
  r.add(event(11, 11, 'y'.repeat(300)))
  t.same(seqs(r.after(r.floor, 100)), [11], 'the budget is spent: the other window gives back all it can')
  t.equal(r.floor, 10)
  const held = budget.bytes
  other.release()
  t.ok(budget.bytes < held - 5000, 'released windows give their memory back')
  r.release()
  t.equal(budget.bytes, 0)
})

test('by id, where ids have gaps (several agents, burnt ids)', async (t) => {
  const r = new Recent(10, byId, 3, { bytes: 0, max: 1e9 })
  const ids = [12, 13, 17, 30, 31]
  ids.forEach((id, i) => r.add(event(i + 1, id)))
  t.equal(r.floor, 13)
  t.same(r.after(13, 100)?.map(e => e.id), [17, 30, 31])
  t.same(r.after(20, 100)?.map(e => e.id), [30, 31], 'a position between ids')
  t.equal(r.after(12, 100), null)
  // compaction of the array keeps the same answers
  for (let i = 0; i < 5000; i++) r.add(event(i + 6, 100 + i))
  t.equal(r.floor, 5096)
  t.same(r.after(5096, 100)?.map(e => e.id), [5097, 5098, 5099])
  t.equal(r.after(5095, 100), null)
})
