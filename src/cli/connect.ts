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
//
// The parts are in relay/ (supervisor.ts: the CLI; server-link.ts: the socket; outbound.ts: what is kept and
// re-sent; clears.ts, restarts.ts, reconnect.ts, too-big.ts, stopping.ts: the rules). This file wires them: which
// line goes where, and how the command ends.
import { randomUUID } from 'node:crypto'
import { CloseCodes } from '../protocol/close-codes.js'
import { parseJsonObject, type AgentMessage } from '../protocol/ndjson.js'
import { answeredRequestId, permissionRequest, permissionResponse } from '../protocol/permissions.js'
import { agentRestartedLine, clearedLines, type AgentRestarted } from '../protocol/relay.js'
import { cliSaid, NO_CLEARS, promptWritten, type Clears } from './relay/clears.js'
import { kindOf, lines, relayLog, sizedLine, type RelayLog } from './relay/log.js'
import { agentUrl, type ConnectOptions } from './relay/options.js'
import { OutboundBuffer, uuidOf, type TooBig } from './relay/outbound.js'
import { ServerLink } from './relay/server-link.js'
import { onStopSignals } from './relay/signals.js'
import { howToStop } from './relay/stopping.js'
import { CliSupervisor } from './relay/supervisor.js'
import { mcpArgs, mcpConfig, writeMcpConfig } from './relay/mcp-config.js'

/** The initialize request `agentlog runner` sends each agent's first CLI: its answer says the CLI is up. */
const READY_PROBE_ID = 'agentlog-runner-ready'

/** A line as the relay reads it: a JSON object, or null; never throws. */
function read (line: string): AgentMessage | null {
  return parseJsonObject(line) as AgentMessage | null
}

/** The request_id of the can_use_tool request a line is (the CLI waits for its answer), or null. */
function permissionAsked (message: AgentMessage | null): string | null {
  return message !== null ? permissionRequest(message)?.requestId ?? null : null
}

class Relay {
  private readonly log: RelayLog
  private readonly url: string
  private readonly supervisor: CliSupervisor
  private readonly link: ServerLink
  private readonly outbound: OutboundBuffer
  private clears: Clears = NO_CLEARS
  private replayed = 0
  private stopping = false
  private fatal = false
  private exitCode = 0
  private drainTimer: NodeJS.Timeout | null = null
  private finished = false
  private done: (code: number) => void = () => {}
  private unsignal: () => void = () => {}
  /** Deletes the CLI's MCP configuration file (it holds the token) when the relay ends. */
  private removeMcpConfig: () => void = () => {}
  /** `agentlog runner`: the probe's answer came (cliUp), the socket opened (linkUp), ready was said (readySaid). */
  private cliUp = false
  private linkUp = false
  private readySaid = false

  constructor (private readonly opts: ConnectOptions) {
    this.log = relayLog(opts.log, opts.verbose)
    this.url = agentUrl(opts.server, opts.agentId)
    this.outbound = new OutboundBuffer(opts)
    let claudeArgs = opts.claudeArgs
    if (opts.mcp !== false) {
      const file = writeMcpConfig(mcpConfig(opts.server, opts.agentId, opts.token))
      this.removeMcpConfig = file.remove
      claudeArgs = [...mcpArgs(file.path), ...claudeArgs]
    }
    this.supervisor = new CliSupervisor({ ...opts, claudeArgs }, {
      line: (line) => this.fromCli(line),
      failedToStart: () => this.fail(127),
      restarted: (notice, waiting) => this.restarted(notice, waiting),
      exited: (status) => {
        if (!this.fatal) this.exitCode = status
        this.stop()
      }
    }, this.log)
    this.link = new ServerLink({ ...opts, url: this.url }, {
      opened: (reconnect) => this.opened(reconnect),
      line: (line) => this.toCli(line),
      refused: (why) => {
        this.log.error(why)
        this.fail(1)
      },
      closed: (code) => this.closed(code)
    }, this.log)
  }

  /** Runs until the CLI exits (or the server refuses the agent for good); resolves with the exit status. */
  run (): Promise<number> {
    const result = new Promise<number>((resolve) => { this.done = resolve })
    if (this.opts.forwardSignals) {
      this.unsignal = onStopSignals((signal, count) => {
        const outcome = this.supervisor.passOn(signal, count)
        // the CLI is dead and waiting to be restarted: nothing to pass on, just stop
        if (outcome === 'between_processes') this.stop()
        if (outcome === 'no_cli') this.finish()
      })
    }
    const { agentId, cwd, claudeBin, token } = this.opts
    this.log.notice(`agent ${agentId} in ${cwd}: running ${claudeBin}, relaying to ${this.url}${token !== null ? ' with a token' : ''}`)
    this.supervisor.start()
    if (this.opts.hooks?.ready !== undefined) {
      this.supervisor.write(JSON.stringify({ type: 'control_request', request_id: READY_PROBE_ID, request: { subtype: 'initialize' } }))
    }
    this.link.connect()
    return result
  }

  /** Ends the relay on request (`agentlog runner` stopping the agent): the CLI is stopped and not restarted. */
  shutdown (): void {
    if (this.stopping) return
    this.supervisor.windDown()
    this.supervisor.terminate().then((status) => {
      if (status !== null) this.exitCode = status
      this.stop()
    }, () => this.stop())
  }

  /** The CLI process's pid (its process group), while one runs. */
  get pid (): number | null {
    return this.supervisor.pid
  }

  private maybeReady (): void {
    if (this.readySaid || !this.cliUp || !this.linkUp) return
    this.readySaid = true
    this.opts.hooks?.ready?.()
  }

  // ---- from the CLI to the server ----

  /** A line the CLI wrote on stdout. */
  private fromCli (line: string): void {
    const message = read(line)
    if (message?.type === 'control_response' && (message.response as { request_id?: unknown } | undefined)?.request_id === READY_PROBE_ID) {
      // the runner's own question: the server never asked it
      this.cliUp = true
      this.maybeReady()
      return
    }
    if (typeof message?.session_id === 'string' && message.session_id !== '') this.supervisor.sawSession(message.session_id)
    const { state, verdict } = cliSaid(this.clears, message)
    this.clears = state
    if (verdict === 'swallow') return
    if (verdict === 'replace_cli') {
      this.replaceCli()
      return
    }
    const asked = permissionAsked(message)
    if (asked !== null) this.outbound.permissionAsked(asked, line)
    this.forward(line, uuidOf(message))
  }

  /** Sends a line now, or holds it until the socket is back. */
  private forward (line: string, uuid: string | null): void {
    const route = this.outbound.route(line, uuid, this.link.writable)
    if (route.to === 'server') {
      this.transmit(line)
    } else if (route.to === 'too_big') {
      this.log.warn(`dropped ${sizedLine(line)}: too big for the server (it closed with 1009 for one as long)`)
      const asked = permissionAsked(read(line))
      if (asked !== null && this.outbound.permissionClosed(asked)) this.refusePermission(asked)
    } else {
      this.log.info(`disconnected: holding ${kindOf(line)} line (${route.count} held)`)
      if (route.firstDrop) this.log.warn(`disconnected and the buffer is full (${lines(this.opts.bufferLines)}): dropping the oldest`)
    }
  }

  /** One line on the socket, noted where a frame-too-big close looks for its culprit. */
  private transmit (line: string): void {
    if (this.link.send(line, uuidOf(read(line)))) this.outbound.sent(line, Date.now())
  }

  private opened (reconnect: boolean): void {
    this.linkUp = true
    this.maybeReady()
    if (reconnect) {
      // lines in flight when the socket dropped may be lost; the server drops the ones it already has
      const { recent, permissions } = this.outbound.replay()
      for (const line of recent) this.transmit(line)
      this.replayed += recent.length
      for (const line of permissions) this.transmit(line)
      this.log.info(`re-sent ${lines(recent.length)} sent lately and ${this.outbound.openPermissions} open permission requests`)
    }
    const { held, dropped } = this.outbound.release()
    if (dropped > 0) this.log.warn(`${lines(dropped)} dropped while disconnected (the buffer of ${lines(this.opts.bufferLines)} was full)`)
    if (held.length > 0) this.log.info(`sending ${lines(held.length)} held while disconnected`)
    for (const line of held) this.forward(line, uuidOf(read(line)))
    if (this.stopping) this.link.goodbye(() => this.finish())
  }

  /** The socket closed (not for good): whether to reconnect. */
  private closed (code: number): boolean {
    const tooBig = this.outbound.closed(code, Date.now())
    if (tooBig !== null) this.droppedTooBig(tooBig)
    if (this.stopping && this.outbound.heldCount === 0) {
      this.finish()
      return false
    }
    return true
  }

  private droppedTooBig ({ code, culprit, alsoDropped, refused }: TooBig): void {
    const why = code === CloseCodes.TOO_BIG ? 'the server closed with 1009 (frame too big)' : 'the connection broke twice right after sending it'
    this.log.warn(`${why}: dropped ${sizedLine(culprit)}; lines of ${culprit.length} characters or more will not be sent`)
    for (const line of alsoDropped) this.log.warn(`dropped ${sizedLine(line)}: as long, too big for the server`)
    for (const requestId of refused) this.refusePermission(requestId)
  }

  // ---- from the server to the CLI ----

  /** A line for the CLI's stdin (from the server). */
  private toCli (line: string): void {
    const message = read(line)
    const answered = message !== null ? answeredRequestId(message) : null
    if (answered !== null) this.outbound.permissionClosed(answered)
    this.clears = promptWritten(this.clears, message, line)
    if (this.supervisor.write(line) !== 'full') return
    // the CLI is not reading: stop reading the socket until it catches up
    const resume = this.link.pause()
    if (resume !== null) this.supervisor.onceDrained(resume)
  }

  /** A permission request the server cannot take: the CLI would wait for its answer forever, so deny it here. */
  private refusePermission (requestId: string): void {
    const message = 'agentlog connect: the permission request is too big for the agentlog server (1009)'
    this.toCli(JSON.stringify(permissionResponse(requestId, { behavior: 'deny', message })))
  }

  // ---- new CLI processes ----

  /** The CLI cannot clear: a fresh process is a clear context, and the server is told so. */
  private replaceCli (): void {
    if (!this.supervisor.replaceForClear()) return
    this.outbound.forgetPermissions()
    for (const synthetic of clearedLines(randomUUID)) this.forward(JSON.stringify(synthetic), uuidOf(synthetic))
    // prompts queued behind the /clear went to the old process; the new one answers them
    const again = this.clears.afterClear
    this.clears = NO_CLEARS
    for (const line of again) this.toCli(line)
  }

  /** A new process for one that died: the server is told first; the lines held for it follow. */
  private restarted (notice: AgentRestarted, waiting: string[]): void {
    // the dead process's open questions died with it; its queue of /clear bookkeeping too
    this.outbound.forgetPermissions()
    this.clears = NO_CLEARS
    // never re-sent after a reconnect (it is not a line with a uuid)
    this.forward(JSON.stringify(agentRestartedLine(notice)), null)
    if (waiting.length > 0) this.log.info(`delivering ${lines(waiting.length)} held for the new CLI`)
    for (const line of waiting) this.toCli(line)
  }

  // ---- stopping ----

  private fail (exitCode: number): void {
    this.fatal = true
    this.exitCode = exitCode
    this.stop()
  }

  /** The CLI is gone (or must go): deliver what is held if we can, then finish. */
  private stop (): void {
    if (this.stopping) {
      if (this.fatal) this.finish()
      return
    }
    this.stopping = true
    this.supervisor.windDown()
    const held = this.outbound.heldCount
    switch (howToStop({ fatal: this.fatal, cliRunning: this.supervisor.running, connected: this.link.connected, held })) {
      case 'stop_cli':
        this.supervisor.terminate().then(() => this.finish(), () => {})
        return
      case 'finish':
        this.finish()
        return
      case 'goodbye':
        this.link.goodbye(() => this.finish())
        return
      case 'drain':
        this.log.warn(`the CLI exited with ${lines(held)} not yet delivered; trying for ${this.opts.drainOnExitMs} ms`)
        this.drainTimer = setTimeout(() => {
          this.log.warn(`gave up: ${lines(this.outbound.heldCount)} not delivered`)
          this.finish()
        }, this.opts.drainOnExitMs)
    }
  }

  private finish (): void {
    if (this.finished) return
    this.finished = true
    this.link.end()
    this.supervisor.end()
    if (this.drainTimer !== null) clearTimeout(this.drainTimer)
    this.unsignal()
    this.removeMcpConfig()
    this.log.info(`done: ${this.link.sent} lines to the server, ${this.supervisor.written} to the CLI, ${this.replayed} re-sent, ${this.supervisor.restarts} CLI restarts`)
    this.done(this.exitCode)
  }
}

export function connect (opts: ConnectOptions): Promise<number> {
  return new Relay(opts).run()
}

/** One relay as `agentlog runner` holds it: running until `done`, stopped on request. */
export interface RelayHandle {
  done: Promise<number>
  stop: () => void
  readonly pid: number | null
}

export function startRelay (opts: ConnectOptions): RelayHandle {
  const relay = new Relay(opts)
  const done = relay.run()
  return { done, stop: () => relay.shutdown(), get pid () { return relay.pid } }
}
