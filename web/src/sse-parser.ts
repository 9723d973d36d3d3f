// Server-sent events, parsed from text chunks as they arrive (the viewer reads streams with fetch, so it can send
// the token as a header and catch every event name, which EventSource cannot).

export interface SseMessage {
  id: string | null
  event: string
  data: string
}

export class SseParser {
  private rest = ''
  private id: string | null = null
  private event = ''
  private data: string[] = []

  /** Takes the next chunk of the body; returns the messages it completes. */
  push (chunk: string): SseMessage[] {
    const lines = (this.rest + chunk).split('\n')
    this.rest = lines.pop() ?? ''
    const out: SseMessage[] = []
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
      if (line === '') {
        if (this.data.length > 0) out.push({ id: this.id, event: this.event === '' ? 'message' : this.event, data: this.data.join('\n') })
        this.id = null
        this.event = ''
        this.data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      let value = colon === -1 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'data') this.data.push(value)
      else if (field === 'event') this.event = value
      else if (field === 'id') this.id = value
    }
    return out
  }
}
