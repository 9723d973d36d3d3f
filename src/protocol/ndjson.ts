// Splits an agent's WebSocket frames into stream-json lines and parses them, never throwing.

export type ParsedLine =
  | { ok: true, message: AgentMessage }
  | { ok: false, reason: 'invalid_json' | 'missing_type' | 'too_deep', line: string }

/**
 * Deeper lines are refused unparsed: JSON.parse takes any depth, but JSON.stringify (which the writer uses to
 * store metadata) overflows the stack at a few thousand levels, and the batch holding such a line could never
 * commit. Real stream-json lines nest about ten levels.
 */
export const MAX_JSON_DEPTH = 512

/** A stream-json message: an object with a string `type`; everything else is optional and checked where used. */
export interface AgentMessage {
  type: string
  [key: string]: unknown
}

/**
 * A frame may hold several lines, and a line is normally a whole frame. Blank lines are ignored.
 * Each line is parsed alone so one bad line never costs its neighbours.
 */
export function parseFrame (frame: string): ParsedLine[] {
  const out: ParsedLine[] = []
  let start = 0
  while (start < frame.length) {
    let end = frame.indexOf('\n', start)
    if (end === -1) end = frame.length
    const line = frame.slice(start, end)
    start = end + 1
    if (line.trim() === '') continue
    out.push(parseLine(line))
  }
  return out
}

/** Counts bracket depth outside strings; a line shorter than the limit cannot exceed it. */
function tooDeep (line: string): boolean {
  if (line.length <= MAX_JSON_DEPTH) return false
  // with no more brackets than the limit the depth cannot pass it; counting them by indexOf is native and fast
  let brackets = 0
  for (let i = line.indexOf('{'); i !== -1 && brackets <= MAX_JSON_DEPTH; i = line.indexOf('{', i + 1)) brackets++
  for (let i = line.indexOf('['); i !== -1 && brackets <= MAX_JSON_DEPTH; i = line.indexOf('[', i + 1)) brackets++
  if (brackets <= MAX_JSON_DEPTH) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) return true
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return false
}

/** PostgreSQL text cannot hold U+0000 (the whole batch would fail, again and again); it is stored as U+FFFD. */
function withoutNul (_key: string, value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replaceAll('\u0000', '\ufffd') : value
}

export function parseLine (line: string): ParsedLine {
  if (tooDeep(line)) return { ok: false, reason: 'too_deep', line }
  let value: unknown
  try {
    // the reviver is slow, and only a line that spells out \u0000 can hold the character
    value = line.includes('\\u0000') ? JSON.parse(line, withoutNul) : JSON.parse(line)
  } catch {
    return { ok: false, reason: 'invalid_json', line }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    return { ok: false, reason: 'missing_type', line }
  }
  return { ok: true, message: value as AgentMessage }
}

/** A WebSocket text frame's payload (ws hands over a Buffer, an ArrayBuffer or fragments) as a string. */
export function frameText (data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}

/** A line parsed as a JSON object, or null (not JSON, or not an object): for reading lines, never throwing. */
export function parseJsonObject (line: string): Record<string, any> | null {
  try {
    const value: unknown = JSON.parse(line)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, any> : null
  } catch {
    return null
  }
}
