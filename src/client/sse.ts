// Server-sent events, parsed from text as it arrives: the one parser of the typed client, the viewer (which
// web/tsconfig.shared.json compiles into dist/web) and the tests. Pure: no DOM, no Node, only strings.

/** One message: its `event:` name ('message' when unnamed), its `data:` lines joined, its `id:` when it has one. */
export interface SseMessage { event: string, data: string, id?: string }

export interface SseParserOptions {
  /** Called with each comment line's text (`: heartbeat` gives 'heartbeat'); comments are never messages. */
  onComment?: (text: string) => void
}

/** The parts of the format the server uses: event, data, id, comments; LF or CRLF line ends. */
export class SseParser {
  private rest = ''
  private event: string | undefined
  private id: string | undefined
  private data: string[] = []

  constructor (private readonly options: SseParserOptions = {}) {}

  /** Takes the next chunk of the body; returns the messages it completes. */
  push (chunk: string): SseMessage[] {
    const lines = (this.rest + chunk).split('\n')
    this.rest = lines.pop() ?? ''
    const out: SseMessage[] = []
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
      if (line === '') {
        if (this.data.length > 0) out.push({ event: this.event ?? 'message', data: this.data.join('\n'), id: this.id })
        this.event = undefined
        this.id = undefined
        this.data = []
        continue
      }
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      let value = colon === -1 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (colon === 0) this.options.onComment?.(value)
      else if (field === 'data') this.data.push(value)
      else if (field === 'event') this.event = value
      else if (field === 'id') this.id = value
    }
    return out
  }
}
