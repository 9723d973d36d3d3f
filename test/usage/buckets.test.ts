// Time for usage (pure): bounds in a time zone, the hours a range covers, a UTC hour as local day, week, month.
import { test } from 'tap'
import { constantOffsetMinutes, dayBuckets, hourRange, localBuckets, parseBound, RangeError400, splitRange } from '../../src/usage/buckets.js'

function refused (fn: () => unknown): boolean {
  try {
    fn()
    return false
  } catch (err) {
    return err instanceof RangeError400
  }
}

test('a date bound is its day\'s start in tz, through the end of the day for `to`; a time is taken as it is', async (t) => {
  t.equal(new Date(parseBound('2026-03-01', 'UTC', false)).toISOString(), '2026-03-01T00:00:00.000Z')
  t.equal(new Date(parseBound('2026-03-01', 'UTC', true)).toISOString(), '2026-03-02T00:00:00.000Z')
  t.equal(new Date(parseBound('2026-07-01', 'Europe/Paris', false)).toISOString(), '2026-06-30T22:00:00.000Z')
  t.equal(new Date(parseBound('2026-03-08', 'America/New_York', false)).toISOString(), '2026-03-08T05:00:00.000Z', 'the day clocks spring forward')
  t.equal(new Date(parseBound('2026-03-08', 'America/New_York', true)).toISOString(), '2026-03-09T04:00:00.000Z')
  t.equal(parseBound('2026-03-01T10:30:00+01:00', 'UTC', false), Date.parse('2026-03-01T09:30:00Z'))
  t.ok(refused(() => parseBound('last week', 'UTC', false)), 'refused: last week, UTC')
  t.ok(refused(() => parseBound('2026-13-01', 'UTC', false)), 'refused: 2026-13-01, UTC')
  t.ok(refused(() => parseBound('2026-03-01', 'Nowhere/City', false)), 'refused: 2026-03-01, Nowhere/City')
})

test('the stored hours of a range: the hour `from` falls in, through the last hour starting before `to`', async (t) => {
  t.same(hourRange(Date.parse('2026-03-01T10:30:00Z'), Date.parse('2026-03-01T12:00:00Z')), { from: '2026-03-01T10', to: '2026-03-01T12' })
  t.same(hourRange(null, Date.parse('2026-03-01T12:00:01Z')), { from: null, to: '2026-03-01T13' })
})

test('a UTC hour as the local hour, day, week (its Monday) and month', async (t) => {
  t.same(localBuckets('2026-03-01T23', 'UTC'), { hour: '2026-03-01T23', day: '2026-03-01', week: '2026-02-23', month: '2026-03' })
  t.same(localBuckets('2026-03-31T23', 'Europe/Paris'), { hour: '2026-04-01T01', day: '2026-04-01', week: '2026-03-30', month: '2026-04' })
  t.same(localBuckets('2026-03-02T03', 'America/Los_Angeles'), { hour: '2026-03-01T19', day: '2026-03-01', week: '2026-02-23', month: '2026-03' })
})

test('a zone\'s offset over a range, when it holds (then days can be grouped by the database)', async (t) => {
  t.equal(constantOffsetMinutes(Date.parse('2026-05-01T00:00:00Z'), Date.parse('2026-06-01T00:00:00Z'), 'Europe/Paris'), 120)
  t.equal(constantOffsetMinutes(Date.parse('2026-03-01T00:00:00Z'), Date.parse('2026-04-01T00:00:00Z'), 'Europe/Paris'), null, 'DST starts on 29 March')
  t.equal(constantOffsetMinutes(Date.parse('2026-03-01T00:00:00Z'), Date.parse('2026-04-01T00:00:00Z'), 'Asia/Kolkata'), 330)
  t.same(dayBuckets('2026-03-01'), { day: '2026-03-01', week: '2026-02-23', month: '2026-03' })
})

test('a range split for the daily roll-up: whole UTC days that stay in one local bucket as days, the rest as hours', async (t) => {
  const range = { from: '2026-03-27T05', to: '2026-04-01T07' }
  t.same(splitRange(range, null, 'UTC', ['day']), {
    days: [['2026-03-28', '2026-04-01']],
    hours: [['2026-03-27T05', '2026-03-28T00'], ['2026-04-01T00', '2026-04-01T07']]
  }, 'UTC: the partial first and last days by the hour')
  t.same(splitRange(range, null, 'Europe/Paris', ['day']), { days: [], hours: [['2026-03-27T05', '2026-04-01T07']] },
    'every UTC day straddles two Paris days')
  t.same(splitRange(range, null, 'Europe/Paris', ['month']), {
    days: [['2026-03-28', '2026-03-31']],
    hours: [['2026-03-27T05', '2026-03-28T00'], ['2026-03-31T00', '2026-04-01T07']]
  }, 'by month in Paris: only the day April starts on (22:00 UTC) by the hour')
  t.same(splitRange(range, null, 'Europe/Paris', []), {
    days: [['2026-03-28', '2026-04-01']],
    hours: [['2026-03-27T05', '2026-03-28T00'], ['2026-04-01T00', '2026-04-01T07']]
  }, 'no time group: every whole day')
  t.same(splitRange({ from: null, to: '2026-03-03T00' }, '2026-03-01', 'UTC', ['day']), {
    days: [['2026-03-01', '2026-03-03']],
    hours: [[null, '2026-03-01T00']]
  }, 'no start: from the first stored day')
  t.same(splitRange({ from: null, to: '2026-03-03T00' }, null, 'UTC', ['day']), { days: [], hours: [[null, '2026-03-03T00']] }, 'nothing stored')
  t.same(splitRange({ from: '2026-03-01T03', to: '2026-03-01T09' }, null, 'UTC', []), { days: [], hours: [['2026-03-01T03', '2026-03-01T09']] },
    'less than a day')
})
