// The relay's WebSocket to the agentlog server: connects with the token (and x-last-request-id on a reconnect),
// reconnects with backoff, splits frames into lines, and says when the server refused the agent for good. The
// rules (backoff, final closes, headers) are in reconnect.ts.
import { randomUUID } from 'node:crypto'
import { WebSocket, type RawData } from 'ws'
import { CloseCodes } from '../../protocol/close-codes.js'
import { frameText } from '../../protocol/ndjson.js'
import type { RelayLog } from './log.js'
import { backoffDelay, connectHeaders, finalClose, outageWarning, refusesToken } from './reconnect.js'

export interface LinkOptions {
  /** The agent socket's URL (see agentUrl). */
  url: string
  token: string | null
  backoffInitialMs: number
  backoffMaxMs: number
}

export interface LinkEvents {
  /** The socket is open; `reconnect`: it was open before. */
  opened (reconnect: boolean): void
  /** A non-blank line from the server. */
  line (line: string): void
  /** The server refused the agent for good (`why` says so, for the log): no reconnect follows. */
  refused (why: string): void
  /** The socket closed for any other reason: true to reconnect, false to stay closed. */
  closed (code: number): boolean
}

/** How long a goodbye (close 1000) may take before the socket is cut. */
const GOODBYE_MS = 2000

export class ServerLink {
  /** Lines sent. */
  sent = 0
  private ws: WebSocket | null = null
  private open = false
  private everConnected = false
  /** Connections failed or lost in a row. */
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | null = null
  private outageWarned = false
  private lastUuid: string | null = null
  private readonly runId = randomUUID()
  /** The HTTP status of a refused upgrade (401/403): final. */
  private refusedStatus: number | null = null
  private ended = false

  constructor (private readonly opts: LinkOptions, private readonly events: LinkEvents, private readonly log: RelayLog) {}

  connect (): void {
    this.reconnectTimer = null
    const headers = connectHeaders({ reconnect: this.everConnected, lastUuid: this.lastUuid, runId: this.runId, token: this.opts.token })
    const ws = new WebSocket(this.opts.url, { headers, perMessageDeflate: false })
    this.ws = ws
    ws.on('unexpected-response', (_request, response) => {
      const status = response.statusCode ?? 0
      if (refusesToken(status)) this.refusedStatus = status
      this.log.info(`upgrade refused: HTTP ${status}`)
      response.resume()
      ws.terminate()
    })
    ws.on('open', () => this.onOpen(ws))
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return
      const text = frameText(data)
      for (const line of text.split('\n')) {
        if (line.trim() !== '') this.events.line(line)
      }
    })
    ws.on('error', (err) => { this.log.info(`socket: ${err.message}`) })
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()))
  }

  /** The socket opened and has not closed since. */
  get connected (): boolean {
    return this.open
  }

  /** A line sent now would go out. */
  get writable (): boolean {
    return this.open && this.ws !== null && this.ws.readyState === WebSocket.OPEN
  }

  /** Sends one line (`uuid`: the one it carries, named by the next reconnect); false when there is no socket. */
  send (line: string, uuid: string | null): boolean {
    const ws = this.ws
    if (ws === null) return false
    if (uuid !== null) this.lastUuid = uuid
    this.sent++
    // one line, one frame, newline-terminated: what the CLI itself sends over --sdk-url
    ws.send(line + '\n')
    return true
  }

  /** Stops reading the socket (the CLI is not reading); returns what resumes it, or null when there is nothing to pause. */
  pause (): (() => void) | null {
    const ws = this.ws
    if (ws === null || ws.isPaused) return null
    ws.pause()
    return () => { if (ws.readyState === ws.OPEN) ws.resume() }
  }

  /** Closes with 1000 after the frames already queued, so the last lines are delivered first; then calls `then`. */
  goodbye (then: () => void): void {
    const ws = this.ws
    if (ws === null) {
      then()
      return
    }
    ws.close(CloseCodes.NORMAL, 'agent exited')
    const timer = setTimeout(() => { ws.terminate() }, GOODBYE_MS)
    ws.once('close', () => { clearTimeout(timer); then() })
  }

  /** The relay has ended: no reconnect, and the socket is cut if still there. */
  end (): void {
    this.ended = true
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer)
    if (this.ws !== null && this.ws.readyState !== this.ws.CLOSED) this.ws.terminate()
  }

  private onOpen (ws: WebSocket): void {
    if (this.ws !== ws) return
    const reconnect = this.everConnected
    this.open = true
    this.everConnected = true
    this.attempt = 0
    if (this.outageWarned) this.log.warn(`reconnected to ${this.opts.url}`)
    else this.log.info(`connected to ${this.opts.url}`)
    this.outageWarned = false
    this.events.opened(reconnect)
  }

  private onClose (ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return
    const wasOpen = this.open
    this.open = false
    this.ws = null
    if (this.ended) return
    const final = finalClose({ code, reason, refusedStatus: this.refusedStatus, tokenGiven: this.opts.token !== null })
    if (final !== null) {
      this.events.refused(final)
      return
    }
    if (!this.events.closed(code)) return
    const warning = outageWarning({ wasOpen, warned: this.outageWarned, attempt: this.attempt })
    if (warning === 'lost') this.log.warn(`disconnected from ${this.opts.url} (code ${code}${reason !== '' ? `: ${reason}` : ''}); reconnecting`)
    if (warning === 'unreachable') this.log.warn(`cannot reach ${this.opts.url}; still trying`)
    if (warning !== null) this.outageWarned = true
    const delay = backoffDelay(this.attempt, this.opts.backoffInitialMs, this.opts.backoffMaxMs, Math.random())
    this.attempt++
    this.log.info(`reconnecting in ${delay} ms (attempt ${this.attempt})`)
    this.reconnectTimer = setTimeout(() => this.connect(), delay)
  }
}
