// When the full-text index catches up with the log, and by how much: a pure decision over the lag, the time and
// what indexing has cost lately. Events commit first; the index follows in transactions of its own, each one a
// new FTS5 segment, so it waits until enough is missing (or the oldest missing event has waited long enough) and
// then indexes in slices short enough that a commit arriving meanwhile waits little.

/** Index once this many events are missing... */
export const TRIGGER_EVENTS = 4096
/** ...or once the oldest missing one was committed this long ago: searchable well within a second. */
export const LAG_TARGET_MS = 250
/** A slice: about this long, so a commit arriving meanwhile waits little. */
export const SLICE_MS = 5
/** A slice when the index is a second or more behind (the writer is saturated): longer, fewer segments. */
export const LATE_SLICE_MS = 40
export const LATE_MS = 1000
/** Bounds of a slice, in event ids, whatever the measured cost. */
export const MIN_SLICE = 256
export const MAX_SLICE = 50000

export interface CatchUp {
  /** The newest event id the index holds. */
  indexedThrough: number
  /** The newest event id committed. */
  newest: number
  /** When the oldest event the index lacks was committed (ms, the caller's clock); null when none is missing. */
  oldestMissingAt: number | null
  /** What indexing has cost lately, per event id, in ms. */
  msPerEvent: number
}

export const initialCatchUp = (indexedThrough: number, newest: number, now: number): CatchUp => ({
  indexedThrough, newest, oldestMissingAt: newest > indexedThrough ? now - LAG_TARGET_MS : null, msPerEvent: 0.005
})

/**
 * How many event ids to index now: 0 and when to look again (`at`, on the caller's clock; null: when something is
 * committed), or a slice.
 */
export function nextSlice (s: CatchUp, now: number): { events: number, at: number | null } {
  const missing = s.newest - s.indexedThrough
  if (missing <= 0 || s.oldestMissingAt === null) return { events: 0, at: null }
  const age = now - s.oldestMissingAt
  if (missing < TRIGGER_EVENTS && age < LAG_TARGET_MS) return { events: 0, at: s.oldestMissingAt + LAG_TARGET_MS }
  const budget = age >= LATE_MS ? LATE_SLICE_MS : SLICE_MS
  const fits = Math.round(budget / Math.max(s.msPerEvent, 1e-4))
  return { events: Math.min(missing, Math.max(MIN_SLICE, Math.min(MAX_SLICE, fits))), at: null }
}

/** Events up to `newest` were committed at `now`. */
export function committed (s: CatchUp, newest: number, now: number): CatchUp {
  if (newest <= s.newest) return s
  return { ...s, newest, oldestMissingAt: s.oldestMissingAt ?? now }
}

/**
 * A slice of `events` ids up to `through` was indexed in `ms`. While some are still missing the lag keeps counting
 * from the oldest missing commit known (the slice's own end is not known to be later), so catching up goes on.
 */
export function indexed (s: CatchUp, through: number, events: number, ms: number): CatchUp {
  const msPerEvent = events > 0 ? s.msPerEvent * 0.7 + (ms / events) * 0.3 : s.msPerEvent
  return {
    indexedThrough: through,
    newest: Math.max(s.newest, through),
    oldestMissingAt: through >= s.newest ? null : s.oldestMissingAt,
    msPerEvent
  }
}

/**
 * Whether to take a bounded merge step now (the caller takes one only when nothing else is queued): not while the
 * index is late, which catching up comes first for.
 */
export function mergeNow (s: CatchUp, now: number): boolean {
  return s.oldestMissingAt === null || now - s.oldestMissingAt < LAG_TARGET_MS
}
