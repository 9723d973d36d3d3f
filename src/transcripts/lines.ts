// Splits a byte stream into lines with their byte positions, holding at most one line (up to a limit) in memory.

export interface StreamLine {
  /** The line without its newline; null when it was longer than the limit (its bytes were dropped). */
  text: string | null
  /** Byte position just after the line's newline, from the start of the stream. */
  end: number
}

export interface LineTail {
  /** Bytes after the last newline: a line still being written, left for later. */
  partialBytes: number
}

/**
 * Yields every newline-terminated line. What follows the last newline is not a line yet (the writer may still
 * be writing it): it is only counted, in the generator's return value.
 */
export async function * streamLines (stream: AsyncIterable<Buffer | string>, maxLineBytes: number): AsyncGenerator<StreamLine, LineTail> {
  let pieces: Buffer[] = []
  let pendingBytes = 0
  let tooLong = false
  let position = 0
  for await (const raw of stream) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw
    let start = 0
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start)
      if (nl === -1) {
        const rest = chunk.length - start
        pendingBytes += rest
        position += rest
        if (!tooLong) {
          if (pendingBytes > maxLineBytes) { tooLong = true; pieces = [] } else pieces.push(chunk.subarray(start))
        }
        break
      }
      const piece = chunk.subarray(start, nl)
      pendingBytes += piece.length
      position += piece.length + 1
      let text: string | null = null
      if (!tooLong && pendingBytes <= maxLineBytes) {
        text = pieces.length === 0 ? piece.toString('utf8') : Buffer.concat([...pieces, piece]).toString('utf8')
        if (text.endsWith('\r')) text = text.slice(0, -1)
      }
      yield { text, end: position }
      pieces = []
      pendingBytes = 0
      tooLong = false
      start = nl + 1
    }
  }
  return { partialBytes: pendingBytes }
}
