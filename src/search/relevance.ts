// How well one event matches, from that event alone: no corpus statistics, so a score never changes while the log
// grows (the cursor relies on that) and costs the same on a small log as on a huge one.

/** Typical length of an indexed text, in characters: where the length norm is neutral. */
const TYPICAL_LENGTH = 400
const K1 = 1.2
const B = 0.75

/**
 * BM25's term-frequency part: more matches score higher with diminishing returns, and the same number of matches
 * in a longer text scores lower. `matches` counts the marked ranges (a phrase counts once per occurrence).
 */
export function relevance (matches: number, length: number): number {
  if (matches <= 0) return 0
  return matches / (matches + K1 * (1 - B + B * Math.max(0, length) / TYPICAL_LENGTH))
}

/** The same from a text whose matches start with `mark` (SQLite's highlight() output, with no end mark). */
export function relevanceOfMarked (marked: string, mark: string): number {
  let matches = 0
  for (let i = marked.indexOf(mark); i !== -1; i = marked.indexOf(mark, i + mark.length)) matches++
  return relevance(matches, marked.length - matches * mark.length)
}
