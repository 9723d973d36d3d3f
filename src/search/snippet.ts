// Turns a database's marked-up excerpt into plain text plus the [start, end) offsets of its matched words, so no
// client ever has to treat stored content as markup.

/** Private-use characters the databases wrap matches in; stripped before anything leaves the server. */
export const MARK_START = '\uE000'
export const MARK_END = '\uE001'
/** Longest snippet sent: one "word" can be a whole base64 blob, which no excerpt should carry. */
export const SNIPPET_MAX = 300

export interface Snippet {
  snippet: string
  /** UTF-16 offsets (JavaScript string indices) into `snippet`, end exclusive, ascending, not overlapping. */
  highlights: Array<[number, number]>
}

export function unmark (marked: string, max = SNIPPET_MAX): Snippet {
  let text = ''
  const highlights: Array<[number, number]> = []
  let open: number | null = null
  for (const ch of marked) {
    if (ch === MARK_START) {
      if (open === null) open = text.length
    } else if (ch === MARK_END) {
      if (open !== null && text.length > open) {
        const last = highlights[highlights.length - 1]
        // matches only blank apart (the words of a phrase) read as one highlight, as SQLite marks a phrase
        if (last !== undefined && /^\s*$/.test(text.slice(last[1], open))) last[1] = text.length
        else highlights.push([open, text.length])
      }
      open = null
    } else {
      text += ch
    }
  }
  if (open !== null && text.length > open) highlights.push([open, text.length])
  return clip({ snippet: text, highlights }, max)
}

/** Cuts a long excerpt to `max` UTF-16 units around its first highlight, never inside a surrogate pair. */
function clip (s: Snippet, max: number): Snippet {
  if (s.snippet.length <= max) return s
  const first = s.highlights[0]?.[0] ?? 0
  let start = Math.max(0, Math.min(first - Math.floor(max / 4), s.snippet.length - max))
  if (isLowSurrogate(s.snippet.charCodeAt(start))) start++
  let end = Math.min(s.snippet.length, start + max)
  if (end < s.snippet.length && isLowSurrogate(s.snippet.charCodeAt(end))) end--
  const lead = start > 0 ? '…' : ''
  const tail = end < s.snippet.length ? '…' : ''
  const shift = lead.length - start
  const highlights: Array<[number, number]> = []
  for (const [a, b] of s.highlights) {
    const from = Math.max(a, start)
    const to = Math.min(b, end)
    if (to > from) highlights.push([from + shift, to + shift])
  }
  return { snippet: lead + s.snippet.slice(start, end) + tail, highlights }
}

function isLowSurrogate (code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}

/**
 * PostgreSQL marks an excerpt of the text as its parser saw it (punctuation blanked, character for character);
 * this puts the original characters back under the same marks, and the punctuation that touches the excerpt on
 * either side (`before` and `after` are the text around it), which the parser had left out as blank.
 * Null when the two do not line up.
 */
export function remark (marked: string, original: string, before = '', after = ''): string | null {
  const source = [...original]
  let i = 0
  let out = ''
  for (const ch of marked) {
    if (ch === MARK_START || ch === MARK_END) { out += ch; continue }
    if (i >= source.length) return null
    out += source[i++]
  }
  if (i !== source.length) return null
  const lead = /\S*$/u.exec(before)?.[0] ?? ''
  const tail = /^\S*/u.exec(after)?.[0] ?? ''
  return lead + out + tail
}
