// When the full-text index catches up with the log, and by how much: a pure decision over the lag, the time and
// whether commits are waiting. Events commit first; the index follows in its own transactions, in slices short
// enough that a commit arriving meanwhile waits little, and large enough to keep FTS5's segments few.

/** The index is brought up to date at least this often while commits keep coming. */
export const LAG_TARGET_MS = 250
/** A slice taken while the writer has nothing else to do: short, so a commit arriving meanwhile waits little. */
export const IDLE_SLICE_MS = 8
/** A slice taken when the lag passed LAG_TARGET_MS: long, to catch up in few segments. */
export const CATCH_UP_SLICE_MS = 40
/** Bounds of a slice, in events, whatever the measured cost. */
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
  indexedThrough, newest, oldestMissingAt: newest > indexedThrough ? now : null, msPerEvent: 0.01
})

/** How many event ids to index now (0: not now). `waiting`: commits are queued behind this slice. */
export function nextSlice (s: CatchUp, now: number, waiting: boolean): number {
  const missing = s.newest - s.indexedThrough
  if (missing <= 0) return 0
  const late = s.oldestMissingAt !== null && now - s.oldestMissingAt >= LAG_TARGET_MS
  if (waiting && !late) return 0
  const budget = late ? CATCH_UP_SLICE_MS : IDLE_SLICE_MS
  const rows = Math.round(budget / Math.max(s.msPerEvent, 1e-4))
  return Math.min(missing, Math.max(MIN_SLICE, Math.min(MAX_SLICE, rows)))
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
