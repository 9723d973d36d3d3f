// The runner's WebSocket to the server (/runners/ws/:name): hello on each open, pings, reconnects with backoff;
// a refusal (HTTP 401/403, close 4001/4003) is final.
import { WebSocket } from 'ws'
import { RunnerCloseCodes } from '../protocol/close-codes.js'
import { parseToRunner, type FromRunnerType as FromRunner, type ToRunnerType as ToRunner } from '../protocol/runner.js'
import { backoffDelay } from '../cli/relay/reconnect.js'
import { socketBase } from '../cli/relay/options.js'

export interface RunnerLinkOptions {
  url: string
  token: string | null
  backoffInitialMs: number
  backoffMaxMs: number
  pingMs: number
}

export interface RunnerLinkEvents {
  /** Open: the hello to send now. */
  hello: () => FromRunner
  message: (message: ToRunner) => void
  /** Refused for good (why, for the log). */
  fatal: (why: string) => void
  log: (text: string) => void
}

/** The runner socket URL for a server given as ws(s):// or http(s)://. */
export function runnerUrl (server: string, name: string): string {
  return `${socketBase(server)}/runners/ws/${encodeURIComponent(name)}`
}

export class RunnerLink {
  private ws: WebSocket | null = null
  private attempt = 0
  private timer: NodeJS.Timeout | null = null
  private ping: NodeJS.Timeout | null = null
  private ended = false

  constructor (private readonly opts: RunnerLinkOptions, private readonly events: RunnerLinkEvents) {}

  connect (): void {
    this.timer = null
    if (this.ended) return
    const headers: Record<string, string> = this.opts.token === null ? {} : { authorization: `Bearer ${this.opts.token}` }
    const ws = new WebSocket(this.opts.url, { headers, perMessageDeflate: false })
    this.ws = ws
    let refused: string | null = null
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0
      if (status === 401 || status === 403) refused = `the server refused the runner (HTTP ${status}): check the token (a runner token, allowed this name)`
      res.resume()
      ws.terminate()
    })
    ws.on('open', () => {
      this.attempt = 0
      this.events.log('connected')
      ws.send(JSON.stringify(this.events.hello()))
      this.ping = setInterval(() => { if (ws.readyState === ws.OPEN) ws.ping() }, this.opts.pingMs)
    })
    ws.on('message', (data, isBinary) => {
      const message = isBinary ? null : parseToRunner(data.toString())
      if (message === null) {
        this.events.log('ignored a message that is not one of the runner protocol\'s')
        return
      }
      this.events.message(message)
    })
    ws.on('error', (err) => { this.events.log(`socket: ${err.message}`) })
    ws.on('close', (code, reason) => {
      if (this.ping !== null) clearInterval(this.ping)
      this.ping = null
      if (this.ws === ws) this.ws = null
      if (this.ended) return
      if (code === RunnerCloseCodes.REPLACED || code === RunnerCloseCodes.REFUSED) refused = `the server closed the runner socket with ${code} (${reason.toString()})`
      if (refused !== null) {
        this.ended = true
        this.events.fatal(refused)
        return
      }
      const delay = backoffDelay(this.attempt++, this.opts.backoffInitialMs, this.opts.backoffMaxMs, Math.random())
      this.events.log(`disconnected (${code}); reconnecting in ${delay} ms`)
      this.timer = setTimeout(() => this.connect(), delay)
    })
  }

  send (message: FromRunner): boolean {
    const ws = this.ws
    if (ws === null || ws.readyState !== ws.OPEN) return false
    ws.send(JSON.stringify(message))
    return true
  }

  /** Closes for good, after what is queued has gone. */
  end (): Promise<void> {
    this.ended = true
    if (this.timer !== null) clearTimeout(this.timer)
    const ws = this.ws
    if (ws === null || ws.readyState === ws.CLOSED) return Promise.resolve()
    return new Promise((resolve) => {
      const cut = setTimeout(() => { ws.terminate(); resolve() }, 2000)
      ws.once('close', () => { clearTimeout(cut); resolve() })
      ws.close(1000, 'runner exiting')
    })
  }
}
