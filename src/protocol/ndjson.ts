// Splits an agent's WebSocket frames into stream-json lines and parses them, never throwing.

export type ParsedLine =
  | { ok: true, message: AgentMessage }
  | { ok: false, reason: 'invalid_json' | 'missing_type', line: string }

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

export function parseLine (line: string): ParsedLine {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return { ok: false, reason: 'invalid_json', line }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    return { ok: false, reason: 'missing_type', line }
  }
  return { ok: true, message: value as AgentMessage }
}
