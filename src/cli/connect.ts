// `agentlog connect`: runs Claude Code in stdio stream-json mode and relays its lines to an agentlog server's
// /ws/:agentId, so the server sees the same stream as from a CLI started with --sdk-url.
//
// What it adds on top of a plain pipe:
// - Reconnects with backoff. Lines the CLI writes while no socket is up are held in a bounded buffer (when it
//   is full the oldest are dropped, with a warning saying how many). After a reconnect it re-sends the last
//   lines it sent (they may have been lost in flight; the server drops lines whose uuid it already has), then
//   the held ones, and any permission request the server had not answered yet.
// - Clear-context that clears with every CLI version: when the server sends `/clear` and the CLI answers that
//   it cannot clear (2.1.112: "/clear isn't available in this environment."), the refusal is not forwarded; the
//   CLI is replaced by a fresh process and the server gets a `conversation_reset` and an empty result, the
//   lines a CLI that clears by itself would send.
// - A line over the server's frame limit (close 1009) is dropped with a warning instead of being replayed on
//   every reconnect; a permission request that big is denied locally so the CLI does not wait forever.
// - The CLI dies (crash, kill, out of memory): it is started again with --resume <its last session id> after a
//   backoff, at most --max-restarts times within 10 minutes; the server gets an `agent_restarted` notice, and
//   lines from the server that arrive meanwhile are held for the new process.
// - Presents the agent token (Authorization: Bearer) on every connection; a refusal ends the command.
// - Exits when the CLI exits, with its exit status; SIGINT and SIGTERM are passed on to the CLI.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { constants as osConstants } from 'node:os'
import { WebSocket, type RawData } from 'ws'
import { clearReply, isClearPrompt, isClearReplyAssistant } from '../protocol/clear.js'
import { frameText, parseJsonObject } from '../protocol/ndjson.js'
import { agentRestartedLine } from '../protocol/relay.js'
import { decideOnExit, resumeArgs } from './restarts.js'

/** The flags that put Claude Code in stdio stream-json mode with permission requests on stdout. */
export const STDIO_ARGS = [
  '-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose', '--permission-prompt-tool', 'stdio'
]

/** Close codes after which reconnecting cannot help; every other close (and a failed upgrade) reconnects. */
export const FATAL_CLOSE_CODES: Record<number, string> = {
  1002: 'protocol error',
  4001: 'replaced by a newer connection for the same agent',
  4003: 'refused by the server: check the agent id and the token (--token, --token-file, AGENTLOG_TOKEN)'
}

export interface ConnectOptions {
  agentId: string
  /** ws://host:port (http:// works too); the agent socket is SERVER/ws/AGENT. */
  server: string
  /** The agent token, sent as `Authorization: Bearer` on every connection; null: none. */
  token: string | null
  /** `claude` (looked up on PATH), a path to an executable, or a .js/.mjs file run with this Node. */
  claudeBin: string
  /** Extra arguments for the CLI, after the stdio flags. */
  claudeArgs: string[]
  /** Lines held while disconnected; beyond this the oldest are dropped. */
  bufferLines: number
  /** How many of the last sent lines are re-sent after a reconnect. */
  replayLines: number
  /** Restarts after the CLI dies, within restartWindowMs; 0: never. */
  maxRestarts: number
  restartWindowMs: number
  /** The first restart waits this long, each further one twice as long, up to restartMaxDelayMs. */
  restartDelayMs: number
  restartMaxDelayMs: number
  backoffInitialMs: number
  backoffMaxMs: number
  /** After the CLI exits with lines still held, how long to keep trying to deliver them. */
  drainOnExitMs: number
  verbose: boolean
  env: NodeJS.ProcessEnv
  cwd: string
  /** Writes one log line (to stderr). */
  log: (line: string) => void
  /** Pass SIGINT/SIGTERM of this process on to the CLI. */
  forwardSignals: boolean
}

export const DEFAULTS = {
  server: 'ws://127.0.0.1:7700',
  bufferLines: 10000,
  replayLines: 200,
  maxRestarts: 5,
  restartWindowMs: 10 * 60 * 1000,
  restartDelayMs: 1000,
  restartMaxDelayMs: 30000,
  backoffInitialMs: 100,
  backoffMaxMs: 5000,
  drainOnExitMs: 5000
}

type Obj = Record<string, any>

const parse = parseJsonObject

function lines (n: number): string {
  return n === 1 ? '1 line' : `${n} lines`
}

function uuidOf (message: Obj | null): string | null {
  return typeof message?.uuid === 'string' && message.uuid !== '' ? message.uuid : null
}

/** Arguments that would bring the old conversation back into a fresh process. */
export function withoutResume (args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--continue' || a === '-c' || a === '--fork-session') continue
    if (a === '--resume' || a === '-r' || a === '--session-id') {
      // --resume takes an optional value; a following flag is not one
      if (i + 1 < args.length && !args[i + 1].startsWith('-')) i++
      continue
    }
    if (a.startsWith('--resume=') || a.startsWith('--session-id=')) continue
    out.push(a)
  }
  return out
}

/** The agent socket URL for a server given as ws(s):// or http(s)://. */
export function agentUrl (server: string, agentId: string): string {
  const base = server.trim().replace(/\/+$/, '').replace(/^http(s?):\/\//, 'ws$1://')
  if (!/^wss?:\/\//.test(base)) throw new Error(`--server must be a ws://, wss://, http:// or https:// URL, got ${JSON.stringify(server)}`)
  return `${base}/ws/${encodeURIComponent(agentId)}`
}

function syntheticReset (): Obj {
  return { type: 'conversation_reset', trigger: 'clear', new_conversation_id: null, uuid: randomUUID(), source: 'agentlog-connect' }
}

function syntheticClearResult (): Obj {
  return {
    type: 'result',
    subtype: 'success',
    is_error: false,
    duration_ms: 0,
    duration_api_ms: 0,
    num_turns: 0,
    result: '',
    // the fresh process's cost counter starts at zero: the server takes the drop as a new baseline
    total_cost_usd: 0,
    usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    uuid: randomUUID(),
    source: 'agentlog-connect'
  }
}

interface Cli {
  child: ChildProcess
  /** Replaced by a fresh process: nothing more it says is relayed, and its exit is not ours. */
  retired: boolean
  /** We asked it to stop (a signal passed on, or we are stopping): its exit is not a death to recover from. */
  asked: boolean
  /** It has exited: what the server sends now waits for the next process. */
  exited: boolean
  /** It wrote a line: it got as far as running. */
  ranOnce: boolean
  closed: Promise<void>
}

export class Connector {
  private readonly opts: ConnectOptions
  private readonly url: string
  private readonly runId = randomUUID()
  private cli: Cli | null = null
  private ws: WebSocket | null = null
  private open = false
  private everConnected = false
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | null = null
  private outageWarned = false
  private lastUuid: string | null = null
  /** The last lines sent that carry a uuid, re-sent after a reconnect. */
  private recent: string[] = []
  /** Lines the CLI wrote while no socket was open, oldest first. */
  private held: string[] = []
  private dropped = 0
  /** can_use_tool requests sent and not answered yet, by request_id: the CLI waits for them. */
  private permissions = new Map<string, string>()
  /** /clear prompts written to the CLI and not answered yet. */
  private clearsPending = 0
  /** Prompts written to the CLI after a pending /clear: a fresh process must get them again. */
  private afterClear: string[] = []
  private stopping = false
  private fatal = false
  private exitCode = 0
  private drainTimer: NodeJS.Timeout | null = null
  private done: (code: number) => void = () => {}
  private finished = false
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]> = []
  /** Lines at least this long are not sent: the server closed with 1009 (frame too big) for one of this size. */
  private tooBig = Infinity
  /** The last lines sent on the current connection, whatever their kind, and when: where a 1009's culprit is. */
  private sentHere: Array<{ line: string, at: number }> = []
  /** The line suspected of a frame-too-big close that looked like a network error (see checkTooBig). */
  private suspect: string | null = null
  private readonly stats = { toServer: 0, toCli: 0, replayed: 0, restarts: 0 }
  /** The CLI's session id as it last reported it: what a restarted process resumes. */
  private sessionId: string | null = null
  /** When the CLI was restarted after dying, within the restart window. */
  private deaths: number[] = []
  private restartTimer: NodeJS.Timeout | null = null
  /** Lines from the server while no CLI runs (between a death and the restart), in order. */
  private waitingForCli: string[] = []
  /** The HTTP status of a refused upgrade (401/403): final. */
  private refusedStatus: number | null = null

  constructor (opts: ConnectOptions) {
    this.opts = opts
    this.url = agentUrl(opts.server, opts.agentId)
  }

  /** Runs until the CLI exits (or the server refuses the agent for good); resolves with the exit status. */
  run (): Promise<number> {
    const result = new Promise<number>((resolve) => { this.done = resolve })
    if (this.opts.forwardSignals) {
      for (const signal of ['SIGINT', 'SIGTERM'] as NodeJS.Signals[]) {
        let count = 0
        const handler = (): void => {
          count++
          const cli = this.cli
          if (cli !== null) cli.asked = true
          if (this.restartTimer !== null) {
            // the CLI is dead and waiting to be restarted: nothing to pass on, just stop
            clearTimeout(this.restartTimer)
            this.restartTimer = null
            this.stop()
            return
          }
          this.info(`${signal}: passing it on to the CLI`)
          // a second one means the CLI did not stop: force it
          cli?.child.kill(count > 1 ? 'SIGKILL' : signal)
          if (cli === null) this.finish()
        }
        process.on(signal, handler)
        this.signalHandlers.push([signal, handler])
      }
    }
    this.notice(`agent ${this.opts.agentId} in ${this.opts.cwd}: running ${this.opts.claudeBin}, relaying to ${this.url}${this.opts.token !== null ? ' with a token' : ''}`)
    this.startCli(this.opts.claudeArgs)
    this.connect()
    return result
  }

  // ---- the CLI ----

  private startCli (extraArgs: string[]): void {
    const bin = this.opts.claudeBin
    const args = [...STDIO_ARGS, ...extraArgs]
    const [command, argv] = /\.[cm]?js$/.test(bin) ? [process.execPath, [bin, ...args]] : [bin, args]
    // its own process group: a Ctrl-C in the terminal reaches it once, through us
    const child = spawn(command, argv, { cwd: this.opts.cwd, env: this.opts.env, stdio: ['pipe', 'pipe', 'inherit'], detached: true })
    let onClosed: () => void = () => {}
    const cli: Cli = { child, retired: false, asked: false, exited: false, ranOnce: false, closed: new Promise(resolve => { onClosed = resolve }) }
    this.cli = cli
    this.info(`started ${bin} (pid ${child.pid ?? '?'})`)
    child.stdin?.on('error', (err) => { this.info(`CLI stdin: ${err.message}`) })
    child.stdout?.setEncoding('utf8')
    let partial = ''
    child.stdout?.on('data', (chunk: string) => {
      partial += chunk
      let cut = partial.indexOf('\n')
      while (cut !== -1) {
        const line = partial.slice(0, cut)
        partial = partial.slice(cut + 1)
        if (!cli.retired && line.trim() !== '') {
          cli.ranOnce = true
          this.fromCli(line)
        }
        cut = partial.indexOf('\n')
      }
    })
    child.once('error', (err) => {
      if (cli.retired) return
      this.error(`could not start ${bin}: ${err.message} (set CLAUDE_BIN to the claude executable or its cli.js)`)
      this.exitCode = 127
      this.fatal = true
      onClosed()
      this.stop()
    })
    child.once('exit', () => { cli.exited = true })
    // 'close', not 'exit': every line it wrote has been read by then
    child.once('close', (code, signal) => {
      cli.exited = true
      onClosed()
      if (cli.retired) return
      const status = code ?? 128 + (signal !== null ? osConstants.signals[signal] ?? 0 : 0)
      const how = code !== null ? `code ${code}` : `signal ${signal ?? '?'}`
      this.info(`CLI exited (${how})`)
      const { decision, restarts } = decideOnExit(
        { asked: cli.asked || this.stopping || this.fatal, code, signal, ranOnce: cli.ranOnce },
        this.deaths, Date.now(),
        { maxRestarts: this.opts.maxRestarts, windowMs: this.opts.restartWindowMs, delayMs: this.opts.restartDelayMs, maxDelayMs: this.opts.restartMaxDelayMs })
      this.deaths = restarts
      if (decision.restart) {
        this.warn(`the CLI died (${how}); restarting it${this.sessionId !== null ? ` with --resume ${this.sessionId}` : ''} in ${decision.delayMs} ms ` +
          `(restart ${decision.attempt} of at most ${this.opts.maxRestarts} within ${Math.round(this.opts.restartWindowMs / 60000)} minutes)`)
        this.restartTimer = setTimeout(() => this.restartAfterDeath(code, signal, decision.attempt), decision.delayMs)
        return
      }
      if (decision.why === 'too_many_restarts') {
        this.error(`the CLI died (${how}) after ${this.opts.maxRestarts} restarts within ${Math.round(this.opts.restartWindowMs / 60000)} minutes; giving up`)
      }
      if (!this.fatal) this.exitCode = status
      this.stop()
    })
  }

  /** A new process for the one that died: it resumes the last session; the server is told; held lines go to it. */
  private restartAfterDeath (code: number | null, signal: NodeJS.Signals | null, attempt: number): void {
    this.restartTimer = null
    if (this.stopping) return
    this.stats.restarts++
    // the dead process's open questions died with it; its queue of /clear bookkeeping too
    this.permissions.clear()
    this.clearsPending = 0
    this.afterClear = []
    const resumed = this.sessionId
    this.startCli(resumeArgs(this.opts.claudeArgs, resumed, withoutResume))
    // before anything the new process says; never re-sent after a reconnect (it is not a line with a uuid)
    this.forward(JSON.stringify(agentRestartedLine({
      exit_code: code, signal, resumed_session_id: resumed, attempt, max_restarts: this.opts.maxRestarts
    })), null)
    const waiting = this.waitingForCli
    this.waitingForCli = []
    if (waiting.length > 0) this.info(`delivering ${lines(waiting.length)} held for the new CLI`)
    for (const line of waiting) this.toCli(line)
  }

  /** A line the CLI wrote on stdout. */
  private fromCli (line: string): void {
    const message = parse(line)
    if (typeof message?.session_id === 'string' && message.session_id !== '') this.sessionId = message.session_id
    if (message !== null && this.clearsPending > 0) {
      if (isClearReplyAssistant(message)) return
      if (clearReply(message) === 'refused') {
        this.clearsPending--
        this.restartCli()
        return
      }
      if (clearReply(message) === 'cleared') {
        this.clearsPending--
        if (this.clearsPending === 0) this.afterClear = []
      }
    }
    if (message?.type === 'control_request' && message.request?.subtype === 'can_use_tool' && message.request_id !== undefined) {
      this.permissions.set(String(message.request_id), line)
    }
    this.forward(line, uuidOf(message))
  }

  /** The CLI cannot clear: a fresh process is a clear context. */
  private restartCli (): void {
    const old = this.cli
    if (old === null) return
    old.retired = true
    this.stats.restarts++
    this.info('the CLI cannot /clear: starting a fresh process instead')
    old.child.stdin?.end()
    old.child.kill('SIGTERM')
    const killer = setTimeout(() => old.child.kill('SIGKILL'), 3000)
    // it has its SIGTERM and its stdin is closed: no reason to keep this process alive for it
    killer.unref()
    old.child.once('close', () => clearTimeout(killer))
    this.permissions.clear()
    this.startCli(withoutResume(this.opts.claudeArgs))
    for (const synthetic of [syntheticReset(), syntheticClearResult()]) {
      this.forward(JSON.stringify(synthetic), synthetic.uuid)
    }
    // prompts queued behind the /clear went to the old process; the new one answers them
    const again = this.afterClear
    this.afterClear = []
    this.clearsPending = 0
    for (const line of again) this.toCli(line)
  }

  /** A line for the CLI's stdin (from the server). */
  private toCli (line: string): void {
    const message = parse(line)
    if (message?.type === 'control_response') {
      const id = message.response?.request_id
      if (id !== undefined) this.permissions.delete(String(id))
    }
    if (message?.type === 'user') {
      if (this.clearsPending > 0) this.afterClear.push(line)
      if (isClearPrompt(message)) this.clearsPending++
    }
    if (this.cli === null || this.cli.exited) {
      // between a death and the restart: the new process gets it
      if (!this.stopping) this.waitingForCli.push(line)
      return
    }
    const stdin = this.cli.child.stdin
    if (stdin === undefined || stdin === null || stdin.destroyed) return
    this.stats.toCli++
    // the CLI reads lines: each one must end with a newline or it waits forever
    if (!stdin.write(line + '\n') && this.ws !== null && !this.ws.isPaused) {
      // the CLI is not reading: stop reading the socket until it catches up
      const ws = this.ws
      ws.pause()
      stdin.once('drain', () => { if (ws.readyState === ws.OPEN) ws.resume() })
    }
  }

  // ---- the server ----

  private connect (): void {
    this.reconnectTimer = null
    const headers: Record<string, string> = {}
    // like the CLI: a reconnect of the same process says so, which keeps the server's cost baseline
    if (this.everConnected) headers['x-last-request-id'] = this.lastUuid ?? this.runId
    if (this.opts.token !== null) headers.authorization = `Bearer ${this.opts.token}`
    const ws = new WebSocket(this.url, { headers, perMessageDeflate: false })
    this.ws = ws
    ws.on('unexpected-response', (_request, response) => {
      // a refused upgrade: 401/403 is about the token, final; anything else (a proxy's 502, 503) is retried
      const status = response.statusCode ?? 0
      if (status === 401 || status === 403) this.refusedStatus = status
      this.info(`upgrade refused: HTTP ${status}`)
      response.resume()
      ws.terminate()
    })
    ws.on('open', () => this.onOpen(ws))
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return
      const text = frameText(data)
      for (const line of text.split('\n')) {
        if (line.trim() !== '') this.toCli(line)
      }
    })
    ws.on('error', (err) => { this.info(`socket: ${err.message}`) })
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()))
  }

  private onOpen (ws: WebSocket): void {
    if (this.ws !== ws) return
    const reconnect = this.everConnected
    this.open = true
    this.everConnected = true
    this.attempt = 0
    if (this.outageWarned) this.warn(`reconnected to ${this.url}`)
    else this.info(`connected to ${this.url}`)
    this.outageWarned = false
    if (reconnect) {
      // lines in flight when the socket dropped may be lost; the server drops the ones it already has
      for (const line of this.recent) this.send(line)
      this.stats.replayed += this.recent.length
      const heldIds = new Set(this.held)
      for (const line of this.permissions.values()) {
        if (!heldIds.has(line)) this.send(line)
      }
      this.info(`re-sent ${lines(this.recent.length)} sent lately and ${this.permissions.size} open permission requests`)
    }
    if (this.dropped > 0) {
      this.warn(`${lines(this.dropped)} dropped while disconnected (the buffer of ${lines(this.opts.bufferLines)} was full)`)
      this.dropped = 0
    }
    const held = this.held
    this.held = []
    if (held.length > 0) this.info(`sending ${lines(held.length)} held while disconnected`)
    for (const line of held) this.forward(line, uuidOf(parse(line)))
    if (this.stopping) this.closeAndFinish()
  }

  private onClose (ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return
    const wasOpen = this.open
    this.open = false
    this.ws = null
    if (this.finished) return
    if (this.refusedStatus !== null) {
      this.error(`the server refused the agent's token (HTTP ${this.refusedStatus}${this.opts.token === null ? ': no token was given; use --token, --token-file or AGENTLOG_TOKEN' : ''}); not reconnecting, stopping the CLI`)
      this.fatal = true
      this.exitCode = 1
      this.stop()
      return
    }
    const fatal = FATAL_CLOSE_CODES[code]
    if (fatal !== undefined) {
      this.error(`the server closed the agent socket with ${code} (${fatal}${reason !== '' ? `: ${reason}` : ''}); not reconnecting, stopping the CLI`)
      this.fatal = true
      this.exitCode = 1
      this.stop()
      return
    }
    this.checkTooBig(code)
    if (this.stopping && this.held.length === 0) {
      this.finish()
      return
    }
    if (wasOpen && !this.outageWarned) {
      this.warn(`disconnected from ${this.url} (code ${code}${reason !== '' ? `: ${reason}` : ''}); reconnecting`)
      this.outageWarned = true
    } else if (!wasOpen && !this.outageWarned && this.attempt >= 3) {
      this.warn(`cannot reach ${this.url}; still trying`)
      this.outageWarned = true
    }
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** this.attempt)
    const delay = Math.round(base / 2 + Math.random() * base / 2)
    this.attempt++
    this.info(`reconnecting in ${delay} ms (attempt ${this.attempt})`)
    this.reconnectTimer = setTimeout(() => this.connect(), delay)
  }

  /**
   * A frame over the server's limit closes the socket with 1009, or, when the server resets the connection
   * before that close frame gets through, with 1006. Either way the culprit must not go out again, or every
   * reconnect's replay would close the socket again, forever. With 1009 it is the longest line sent on that
   * connection; with 1006 only when the same line was the longest sent just before two closes in a row.
   */
  private checkTooBig (code: number): void {
    const since = Date.now() - 2000
    let longest: string | null = null
    for (const sent of this.sentHere) {
      if ((code === 1009 || sent.at >= since) && (longest === null || sent.line.length > longest.length)) longest = sent.line
    }
    this.sentHere = []
    if (code !== 1009 && code !== 1006) {
      this.suspect = null
      return
    }
    if (longest === null) return
    if (code === 1006 && longest !== this.suspect) {
      this.suspect = longest
      return
    }
    this.suspect = null
    this.tooBig = Math.min(this.tooBig, longest.length)
    const why = code === 1009 ? 'the server closed with 1009 (frame too big)' : 'the connection broke twice right after sending it'
    this.warn(`${why}: dropped a ${Buffer.byteLength(longest)}-byte ${parse(longest)?.type ?? 'unparsed'} line; lines of ${longest.length} characters or more will not be sent`)
    this.recent = this.recent.filter((line) => {
      if (line.length < this.tooBig || line === longest) return line.length < this.tooBig
      this.warn(`dropped a ${Buffer.byteLength(line)}-byte ${parse(line)?.type ?? 'unparsed'} line: as long, too big for the server`)
      return false
    })
    for (const [id, request] of this.permissions) {
      if (request.length < this.tooBig) continue
      this.permissions.delete(id)
      this.refusePermission(id)
    }
  }

  /** A permission request the server cannot take: the CLI would wait for its answer forever, so deny it here. */
  private refusePermission (requestId: string): void {
    this.toCli(JSON.stringify({
      type: 'control_response',
      response: {
        subtype: 'success',
        request_id: requestId,
        response: { behavior: 'deny', message: 'agentlog connect: the permission request is too big for the agentlog server (1009)' }
      }
    }))
  }

  /** Sends a line now, or holds it until the socket is back. */
  private forward (line: string, uuid: string | null): void {
    if (line.length >= this.tooBig) {
      const message = parse(line)
      this.warn(`dropped a ${Buffer.byteLength(line)}-byte ${message?.type ?? 'unparsed'} line: too big for the server (it closed with 1009 for one as long)`)
      if (message?.type === 'control_request' && this.permissions.delete(String(message.request_id))) this.refusePermission(String(message.request_id))
      return
    }
    if (this.open && this.ws !== null && this.ws.readyState === WebSocket.OPEN) {
      this.send(line)
      if (uuid !== null) {
        this.recent.push(line)
        if (this.recent.length > this.opts.replayLines) this.recent.shift()
      }
      return
    }
    this.held.push(line)
    this.info(`disconnected: holding ${parse(line)?.type ?? 'unparsed'} line (${this.held.length} held)`)
    if (this.held.length > this.opts.bufferLines) {
      this.held.shift()
      if (this.dropped === 0) this.warn(`disconnected and the buffer is full (${lines(this.opts.bufferLines)}): dropping the oldest`)
      this.dropped++
    }
  }

  private send (line: string): void {
    const ws = this.ws
    if (ws === null) return
    const uuid = uuidOf(parse(line))
    if (uuid !== null) this.lastUuid = uuid
    this.sentHere.push({ line, at: Date.now() })
    if (this.sentHere.length > this.opts.replayLines + 50) this.sentHere.shift()
    this.stats.toServer++
    // one line, one frame, newline-terminated: what the CLI itself sends over --sdk-url
    ws.send(line + '\n')
  }

  // ---- stopping ----

  /** The CLI is gone (or must go): deliver what is held if we can, then finish. */
  private stop (): void {
    if (this.stopping) {
      if (this.fatal) this.finish()
      return
    }
    this.stopping = true
    const cli = this.cli
    if (this.fatal && cli !== null && cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.retired = true
      cli.child.kill('SIGTERM')
      const killer = setTimeout(() => cli.child.kill('SIGKILL'), 3000)
      cli.closed.then(() => { clearTimeout(killer); this.finish() }, () => {})
      return
    }
    if (this.fatal) {
      this.finish()
      return
    }
    if (this.open) {
      this.closeAndFinish()
      return
    }
    if (this.held.length === 0) {
      this.finish()
      return
    }
    this.warn(`the CLI exited with ${lines(this.held.length)} not yet delivered; trying for ${this.opts.drainOnExitMs} ms`)
    this.drainTimer = setTimeout(() => {
      this.warn(`gave up: ${lines(this.held.length)} not delivered`)
      this.finish()
    }, this.opts.drainOnExitMs)
  }

  private closeAndFinish (): void {
    const ws = this.ws
    if (ws === null) {
      this.finish()
      return
    }
    // close() goes out after the frames already queued, so the last lines are delivered first
    ws.close(1000, 'agent exited')
    const timer = setTimeout(() => { ws.terminate() }, 2000)
    ws.once('close', () => { clearTimeout(timer); this.finish() })
  }

  private finish (): void {
    if (this.finished) return
    this.finished = true
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer)
    if (this.restartTimer !== null) clearTimeout(this.restartTimer)
    if (this.drainTimer !== null) clearTimeout(this.drainTimer)
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler)
    if (this.ws !== null && this.ws.readyState !== this.ws.CLOSED) this.ws.terminate()
    this.info(`done: ${this.stats.toServer} lines to the server, ${this.stats.toCli} to the CLI, ${this.stats.replayed} re-sent, ${this.stats.restarts} CLI restarts`)
    this.done(this.exitCode)
  }

  // ---- logging: warnings and errors always, the rest with --verbose ----

  private info (text: string): void {
    if (this.opts.verbose) this.opts.log(`agentlog connect: ${text}`)
  }

  /** Always said: what the command is doing, once, at the start. */
  private notice (text: string): void {
    this.opts.log(`agentlog connect: ${text}`)
  }

  private warn (text: string): void {
    this.opts.log(`agentlog connect: warning: ${text}`)
  }

  private error (text: string): void {
    this.opts.log(`agentlog connect: error: ${text}`)
  }
}

export function connect (opts: ConnectOptions): Promise<number> {
  return new Connector(opts).run()
}
