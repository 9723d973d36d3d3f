// Fault: the wall clock jumps back an hour (NTP step, VM restore). Order is seq, never time.
import { test } from 'tap'
import { build, collect, sync, assistantText, line, tempDatabasePath, history } from './helper.js'

const RealDate = Date

/** Makes `new Date()` and `Date.now()` run `skewMs` off the real clock until `restore()`. */
function skewClock (skewMs: number): { restore: () => void } {
  class SkewedDate extends RealDate {
    constructor (...args: any[]) {
      if (args.length === 0) super(RealDate.now() + skewMs)
      else super(...(args as [string | number | Date]))
    }

    static now (): number {
      return RealDate.now() + skewMs
    }
  }
  globalThis.Date = SkewedDate as DateConstructor
  return { restore: () => { globalThis.Date = RealDate } }
}

test('a clock that goes back an hour reorders nothing: history, cursors and sessions follow seq', async (t) => {
  const databasePath = tempDatabasePath(t)
  let clock = { restore: () => {} }
  t.teardown(() => clock.restore())
  let app = await build(t, { databasePath, env: { CLEAR_CONTEXT_WAIT_MS: '0' } })
  let ws = await app.injectWS('/ws/clock-1')
  let inbox = collect(ws)
  const send = async (label: string, n: number): Promise<void> => {
    ws.send(Array.from({ length: n }, (_, i) => line(assistantText(`${label}${i}`))).join(''))
    await sync(app, ws, inbox)
  }

  await send('a', 3)
  clock = skewClock(-3600 * 1000)
  await send('b', 3)
  // a clear while the clock is an hour behind: the barrier is still a seq
  const clear = await app.inject({ method: 'POST', url: '/agents/clock-1/clear-context' })
  t.equal(clear.statusCode, 200, 'clear-context answered')
  await send('c', 3)
  // a restart while still behind: seq continues from the stored last_seq, not from anything time-based
  ws.terminate()
  await app.close()
  app = await build(t, { databasePath })
  ws = await app.injectWS('/ws/clock-1', { headers: { 'x-last-request-id': 'r' } })
  inbox = collect(ws)
  t.teardown(() => ws.terminate())
  await send('d', 3)
  clock.restore()
  await send('e', 3)

  const page = await history(app, 'clock-1', 'limit=1000')
  const events: any[] = page.events
  t.same(events.map(e => e.seq), events.map((_, i) => i + 1), 'seq 1..n without a gap')
  t.same(events.filter(e => e.event_type === 'output').map(e => e.content),
    ['a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'c0', 'c1', 'c2', 'd0', 'd1', 'd2', 'e0', 'e1', 'e2'], 'history is in arrival order')
  const at = (content: string): number => RealDate.parse(events.find(e => e.content === content).created_at)
  t.ok(at('b0') < at('a2') - 3000 * 1000, 'created_at went back about an hour between a2 and b0')
  t.ok(at('e0') > at('d2') + 3000 * 1000, 'and forward again between d2 and e0')

  const cleared = events.find(e => e.event_type === 'context_cleared')
  t.ok(cleared.seq > events.find(e => e.content === 'b2').seq && cleared.seq < events.find(e => e.content === 'c0').seq,
    'context_cleared sits between the lines before and after the clear')
  t.same(events.filter(e => e.event_type === 'output').map(e => [e.content[0], e.session_number]),
    [['a', 0], ['a', 0], ['a', 0], ['b', 0], ['b', 0], ['b', 0], ['c', 1], ['c', 1], ['c', 1], ['d', 1], ['d', 1], ['d', 1], ['e', 1], ['e', 1], ['e', 1]],
    'session numbers follow the barrier, not the clock')

  // keyset cursors in both directions walk the same seq order, whatever created_at says
  const forward: number[] = []
  let cursor: number | null = 0
  while (cursor !== null) {
    const p: any = await history(app, 'clock-1', `limit=4&after=${cursor}`)
    forward.push(...p.events.map((e: any) => e.seq))
    cursor = p.next_cursor
  }
  t.same(forward, events.map(e => e.seq), 'paging forward with after= gives seq order')
  const backward: number[] = []
  cursor = null
  do {
    const p: any = await history(app, 'clock-1', `limit=4&order=desc${cursor === null ? '' : `&before=${cursor}`}`)
    backward.push(...p.events.map((e: any) => e.seq))
    cursor = p.next_cursor
  } while (cursor !== null)
  t.same(backward, events.map(e => e.seq).reverse(), 'paging backward with before= gives reverse seq order')

  const sessions = (await app.inject({ method: 'GET', url: '/agents/clock-1/sessions' })).json()
  t.same(sessions.sessions.map((s: any) => [s.session_number, s.first_seq, s.last_seq]),
    [[0, 1, events.find(e => e.content === 'b2').seq], [1, cleared.seq, events.length]], 'session ranges are seq ranges')
})
