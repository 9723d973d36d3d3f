// Which events of a page or a stream the open log still needs: it holds one contiguous run of seqs, grown at
// either end, so an event is shown once and in order however pages, streams and reconnects overlap.

export interface Span {
  /** The oldest seq shown; null while nothing is. */
  oldest: number | null
  /** The newest seq shown; null while nothing is. */
  newest: number | null
}

export const EMPTY_SPAN: Span = { oldest: null, newest: null }

interface HasSeq { seq: number }

function sortedUnique<T extends HasSeq> (events: readonly T[]): T[] {
  const sorted = [...events].sort((a, b) => a.seq - b.seq)
  return sorted.filter((e, i) => i === 0 || sorted[i - 1].seq !== e.seq)
}

/** The events to add after the newest one shown, oldest first. */
export function newerThan<T extends HasSeq> (span: Span, events: readonly T[]): T[] {
  const fresh = sortedUnique(events)
  return span.newest === null ? fresh : fresh.filter(e => e.seq > (span.newest as number))
}

/** The events to add before the oldest one shown, oldest first. */
export function olderThan<T extends HasSeq> (span: Span, events: readonly T[]): T[] {
  const fresh = sortedUnique(events)
  return span.oldest === null ? fresh : fresh.filter(e => e.seq < (span.oldest as number))
}

/** The span once `added` (sorted, from newerThan or olderThan) is shown. */
export function grow (span: Span, added: readonly HasSeq[]): Span {
  if (added.length === 0) return span
  const first = added[0].seq
  const last = added[added.length - 1].seq
  return {
    oldest: span.oldest === null ? first : Math.min(span.oldest, first),
    newest: span.newest === null ? last : Math.max(span.newest, last)
  }
}
