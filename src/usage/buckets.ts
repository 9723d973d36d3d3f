// Time for usage (pure): a range given as dates or times in the caller's time zone, as UTC hours; a stored UTC hour
// as the caller's local hour, day, week and month.
import { hourOf } from './counters.js'

export class RangeError400 extends Error {}

const formats = new Map<string, Intl.DateTimeFormat>()

function format (tz: string): Intl.DateTimeFormat {
  let f = formats.get(tz)
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'
      })
    } catch {
      throw new RangeError400(`unknown time zone ${JSON.stringify(tz)}`)
    }
    formats.set(tz, f)
  }
  return f
}

/** Whether `tz` is a time zone this runtime knows. */
export function checkTimeZone (tz: string): void {
  format(tz)
}

interface Local { y: number, m: number, d: number, h: number, min: number }

const FORMATTED = /^(\d{2})\/(\d{2})\/(\d+), (\d{2}):(\d{2})$/

function local (ms: number, tz: string): Local {
  // format() and a pattern: ten times faster than formatToParts (en-US: MM/DD/YYYY, HH:mm)
  const m = FORMATTED.exec(format(tz).format(new Date(ms)))
  if (m === null) throw new Error(`unexpected date format for ${tz}`)
  return { y: Number(m[3]), m: Number(m[1]), d: Number(m[2]), h: Number(m[4]), min: Number(m[5]) }
}

/** How far `tz` is ahead of UTC at `ms`, in milliseconds. */
function offset (ms: number, tz: string): number {
  const l = local(ms, tz)
  return Date.UTC(l.y, l.m - 1, l.d, l.h, l.min) - Math.floor(ms / 60000) * 60000
}

/** The instant a local date's day starts in tz (00:00, or the first time that exists on a day clocks skip it). */
export function startOfLocalDay (y: number, m: number, d: number, tz: string): number {
  const wall = Date.UTC(y, m - 1, d)
  let at = wall - offset(wall, tz)
  // across a DST change the offset at the guess may not be the offset at the answer
  at = wall - offset(at, tz)
  return at
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

/** A `from` or `to` bound: a date means its day's start (from) or the next day's start (to, inclusive of the day). */
export function parseBound (value: string, tz: string, end: boolean): number {
  const date = DATE.exec(value)
  if (date !== null) {
    const [y, m, d] = [Number(date[1]), Number(date[2]), Number(date[3])]
    if (m < 1 || m > 12 || d < 1 || d > 31) throw new RangeError400(`not a date: ${value}`)
    return startOfLocalDay(y, m, d + (end ? 1 : 0), tz)
  }
  const ms = Date.parse(value)
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) throw new RangeError400(`not a date (YYYY-MM-DD) or an ISO-8601 time: ${value}`)
  return ms
}

/** The stored hours a [from, to) range covers: every hour that starts in it, or that `from` falls in. */
export function hourRange (fromMs: number | null, toMs: number): { from: string | null, to: string } {
  return {
    from: fromMs === null ? null : hourOf(new Date(Math.floor(fromMs / 3600000) * 3600000).toISOString()),
    // an hour is in when it starts before `to`
    to: hourOf(new Date(Math.ceil(toMs / 3600000) * 3600000).toISOString())
  }
}

export interface LocalBuckets { hour: string, day: string, week: string, month: string }

const pad = (n: number): string => String(n).padStart(2, '0')

/** Local buckets already worked out (Intl's formatting is the slow part of a query): bounded, dropped whole when full. */
const known = new Map<string, LocalBuckets>()
const KNOWN_MAX = 200_000

/** A stored UTC hour ('YYYY-MM-DDTHH') as the caller's local hour, day, week (its Monday) and month. */
export function localBuckets (utcHour: string, tz: string): LocalBuckets {
  const id = `${tz} ${utcHour}`
  let b = known.get(id)
  if (b === undefined) {
    if (known.size >= KNOWN_MAX) known.clear()
    b = computeBuckets(utcHour, tz)
    known.set(id, b)
  }
  return b
}

function computeBuckets (utcHour: string, tz: string): LocalBuckets {
  const l = local(Date.parse(`${utcHour}:00:00Z`), tz)
  const day = `${l.y}-${pad(l.m)}-${pad(l.d)}`
  const weekday = new Date(Date.UTC(l.y, l.m - 1, l.d)).getUTCDay()
  const monday = new Date(Date.UTC(l.y, l.m - 1, l.d - ((weekday + 6) % 7)))
  return {
    hour: `${day}T${pad(l.h)}`,
    day,
    week: monday.toISOString().slice(0, 10),
    month: `${l.y}-${pad(l.m)}`
  }
}

/**
 * The zone's offset from UTC in minutes when it is the same all through [fromMs, toMs) (no DST change inside),
 * else null. Then a local day is a UTC hour shifted by it, and the database can group by day itself.
 */
export function constantOffsetMinutes (fromMs: number, toMs: number, tz: string): number | null {
  if (toMs - fromMs > 400 * 86400000) return null
  const first = offset(fromMs, tz)
  for (let at = fromMs + 86400000; at < toMs; at += 86400000) if (offset(at, tz) !== first) return null
  return offset(toMs - 1, tz) === first ? first / 60000 : null
}

/** A local day (YYYY-MM-DD) as its day, week (its Monday) and month. */
export function dayBuckets (day: string): Omit<LocalBuckets, 'hour'> {
  const [y, m, d] = day.split('-').map(Number)
  const weekday = new Date(Date.UTC(y, m - 1, d)).getUTCDay()
  return { day, week: new Date(Date.UTC(y, m - 1, d - ((weekday + 6) % 7))).toISOString().slice(0, 10), month: day.slice(0, 7) }
}

/** A UTC day ('YYYY-MM-DD') moved by n days. */
export function addDays (day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10)
}

/** [from, to) stretches: of UTC days ('YYYY-MM-DD') or of UTC hours ('YYYY-MM-DDTHH'); a null start is unbounded. */
export type Stretch = [string | null, string]

/**
 * How a query by agent reads the stored hours of a range: the UTC days wholly inside it whose 24 hours all fall in
 * the same local day, week or month (those of `groups`) from the daily roll-up, everything else hour by hour (the
 * range's partial first and last days, and the days a local day, week or month boundary cuts). In UTC every whole
 * day is read as a day; in Europe/Paris by month, only the days a month starts on are read by the hour.
 * `firstDay`: the first day anything was stored (where a range without a start begins).
 */
export function splitRange (range: { from: string | null, to: string }, firstDay: string | null, tz: string,
  groups: ReadonlyArray<'day' | 'week' | 'month'>): { days: Stretch[], hours: Stretch[] } {
  const start = range.from ?? (firstDay === null ? null : `${firstDay}T00`)
  if (start === null) return { days: [], hours: [[range.from, range.to]] }
  const dayFrom = start.endsWith('T00') ? start.slice(0, 10) : addDays(start.slice(0, 10), 1)
  const dayTo = range.to.slice(0, 10)
  if (dayFrom >= dayTo) return { days: [], hours: [[range.from, range.to]] }
  const days: Stretch[] = []
  const hours: Stretch[] = []
  const addHours = (from: string | null, to: string): void => {
    const last = hours[hours.length - 1]
    if (last !== undefined && last[1] === from) last[1] = to
    else hours.push([from, to])
  }
  if (range.from === null || range.from < `${dayFrom}T00`) addHours(range.from, `${dayFrom}T00`)
  for (let d = dayFrom; d < dayTo; d = addDays(d, 1)) {
    const first = localBuckets(`${d}T00`, tz)
    const last = localBuckets(`${d}T23`, tz)
    if (groups.every(g => first[g] === last[g])) {
      const prev = days[days.length - 1]
      if (prev !== undefined && prev[1] === d) prev[1] = addDays(d, 1)
      else days.push([d, addDays(d, 1)])
    } else {
      addHours(`${d}T00`, `${addDays(d, 1)}T00`)
    }
  }
  if (`${dayTo}T00` < range.to) addHours(`${dayTo}T00`, range.to)
  return { days, hours }
}
