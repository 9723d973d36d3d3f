// Splits a search snippet into plain and highlighted runs. The ranges come from the server (UTF-16 offsets) and
// are not trusted to be sorted, disjoint or in bounds; the text is only ever rendered as text nodes.

export interface Segment {
  text: string
  mark: boolean
}

export function highlightSegments (text: string, ranges: ReadonlyArray<readonly [number, number]>): Segment[] {
  const clean = ranges
    .filter(r => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]))
    .map(([s, e]) => [Math.max(0, Math.min(s, text.length)), Math.max(0, Math.min(e, text.length))] as [number, number])
    .filter(([s, e]) => s < e)
    .sort((a, b) => a[0] - b[0])
  const merged: Array<[number, number]> = []
  for (const r of clean) {
    const last = merged[merged.length - 1]
    if (last !== undefined && r[0] <= last[1]) last[1] = Math.max(last[1], r[1])
    else merged.push([r[0], r[1]])
  }
  const out: Segment[] = []
  let at = 0
  for (const [s, e] of merged) {
    if (s > at) out.push({ text: text.slice(at, s), mark: false })
    out.push({ text: text.slice(s, e), mark: true })
    at = e
  }
  if (at < text.length || out.length === 0) out.push({ text: text.slice(at), mark: false })
  return out
}
