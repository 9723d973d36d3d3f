// CLI supervision: the running Claude Code process, started again with --resume when it dies (the rules are in
// restarts.ts), replaced by a fresh process when it cannot /clear, and stopped; what the server sends while no
// process runs waits for the next one.
import type { AgentRestarted } from '../../protocol/relay.js'
import { CliProcess } from './cli-process.js'
import type { RelayLog } from './log.js'
import type { ConnectOptions } from './options.js'
import { decideOnExit, describeExit, exitStatus, resumeArgs, withoutResume } from './restarts.js'

export type SupervisorOptions = Pick<ConnectOptions,
  'claudeBin' | 'claudeArgs' | 'cwd' | 'env' | 'hooks' | 'maxRestarts' | 'restartWindowMs' | 'restartDelayMs' | 'restartMaxDelayMs'>

export interface SupervisorEvents {
  /** A line the current CLI wrote. */
  line (line: string): void
  /** The CLI could not be started (said already): there is nothing to relay. */
  failedToStart (): void
  /** A new process replaced one that died; `waiting` are the lines from the server held for it, in order. */
  restarted (notice: AgentRestarted, waiting: string[]): void
  /** The CLI exited for good (asked to, done, or dead once too often), with this status. */
  exited (status: number): void
}

export class CliSupervisor {
  /** Processes started after the first: after a death, or for a /clear. */
  restarts = 0
  /** Lines written to a CLI's stdin. */
  written = 0
  private cli: CliProcess | null = null
  /** The CLI's session id as it last reported it: what a restarted process resumes. */
  private sessionId: string | null = null
  /** When the CLI was restarted after dying, within the restart window. */
  private deaths: number[] = []
  private restartTimer: NodeJS.Timeout | null = null
  /** Lines from the server while no CLI runs (between a death and the restart), in order. */
  private waiting: string[] = []
  /** The relay is ending: an exit now is not a death, and nothing is started again. */
  private stopping = false

  constructor (private readonly opts: SupervisorOptions, private readonly events: SupervisorEvents, private readonly log: RelayLog) {}

  /** Starts the first process, with the user's arguments. */
  start (extraArgs = this.opts.claudeArgs): void {
    const bin = this.opts.claudeBin
    const cli: CliProcess = new CliProcess(bin, extraArgs, this.opts, {
      line: (line) => this.events.line(line),
      failed: (err) => {
        this.log.error(`could not start ${bin}: ${err.message} (set CLAUDE_BIN to the claude executable or its cli.js)`)
        this.events.failedToStart()
      },
      closed: (code, signal) => this.onExit(cli, code, signal)
    }, this.log)
    this.cli = cli
  }

  /** The session the CLI said it is in (any line's session_id). */
  sawSession (sessionId: string): void {
    this.sessionId = sessionId
  }

  get pid (): number | null {
    return this.cli?.pid ?? null
  }

  get running (): boolean {
    return this.cli !== null && this.cli.running
  }

  /**
   * A line for the CLI's stdin: 'full' when the CLI is not reading (see onceDrained); while no CLI runs, 'held' for
   * the next one, or 'gone' when the relay is ending (or the CLI's stdin is closed).
   */
  write (line: string): 'written' | 'full' | 'held' | 'gone' {
    const cli = this.cli
    if (cli === null || cli.exited) {
      if (this.stopping) return 'gone'
      this.waiting.push(line)
      return 'held'
    }
    const outcome = cli.write(line)
    if (outcome !== 'gone') this.written++
    return outcome
  }

  /** After a write that came back 'full': called once the CLI has read what it was given. */
  onceDrained (then: () => void): void {
    this.cli?.onceDrained(then)
  }

  /**
   * A signal for the CLI (SIGINT, SIGTERM; `count`: how many of that kind so far): passed on, a second one as
   * SIGKILL. 'between_processes': the CLI is dead and waiting to be restarted, and will not be; 'no_cli': none started.
   */
  passOn (signal: NodeJS.Signals, count: number): 'passed' | 'between_processes' | 'no_cli' {
    const cli = this.cli
    if (cli !== null) cli.asked = true
    if (this.restartTimer !== null) {
      clearTimeout(this.restartTimer)
      this.restartTimer = null
      return 'between_processes'
    }
    this.log.info(`${signal}: passing it on to the CLI`)
    // a second one means the CLI did not stop: force it
    cli?.kill(count > 1 ? 'SIGKILL' : signal)
    return cli === null ? 'no_cli' : 'passed'
  }

  /** The CLI cannot /clear: a fresh process (without --resume) is a clear context. False when there is no CLI. */
  replaceForClear (): boolean {
    const old = this.cli
    if (old === null) return false
    this.restarts++
    this.log.info('the CLI cannot /clear: starting a fresh process instead')
    old.retire()
    this.start(withoutResume(this.opts.claudeArgs))
    return true
  }

  /** The relay is ending: exits from now on are not deaths, and no process is started again. */
  windDown (): void {
    this.stopping = true
  }

  /** Stops the running CLI for good (SIGTERM, then SIGKILL); resolves once it has closed, with its exit status (null: none ran). */
  async terminate (): Promise<number | null> {
    if (this.cli !== null && this.cli.running) await this.cli.terminate()
    return this.cli?.exitStatus ?? null
  }

  /** The relay has ended: a pending restart is called off. */
  end (): void {
    if (this.restartTimer !== null) clearTimeout(this.restartTimer)
  }

  private onExit (cli: CliProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const how = describeExit(code, signal)
    this.log.info(`CLI exited (${how})`)
    const { maxRestarts, restartWindowMs } = this.opts
    const { decision, restarts } = decideOnExit(
      { asked: cli.asked || this.stopping, code, signal, ranOnce: cli.ranOnce },
      this.deaths, Date.now(),
      { maxRestarts, windowMs: restartWindowMs, delayMs: this.opts.restartDelayMs, maxDelayMs: this.opts.restartMaxDelayMs })
    this.deaths = restarts
    const window = `${Math.round(restartWindowMs / 60000)} minutes`
    if (decision.restart) {
      this.log.warn(`the CLI died (${how}); restarting it${this.sessionId !== null ? ` with --resume ${this.sessionId}` : ''} in ${decision.delayMs} ms ` +
        `(restart ${decision.attempt} of at most ${maxRestarts} within ${window})`)
      this.restartTimer = setTimeout(() => this.restartAfterDeath(code, signal, decision.attempt), decision.delayMs)
      return
    }
    if (decision.why === 'too_many_restarts') this.log.error(`the CLI died (${how}) after ${maxRestarts} restarts within ${window}; giving up`)
    this.events.exited(exitStatus(code, signal))
  }

  /** A new process for the one that died: it resumes the last session; the lines held meanwhile go to it. */
  private restartAfterDeath (code: number | null, signal: NodeJS.Signals | null, attempt: number): void {
    this.restartTimer = null
    if (this.stopping) return
    this.restarts++
    const resumed = this.sessionId
    this.start(resumeArgs(this.opts.claudeArgs, resumed))
    const waiting = this.waiting
    this.waiting = []
    this.events.restarted({ exit_code: code, signal, resumed_session_id: resumed, attempt, max_restarts: this.opts.maxRestarts }, waiting)
  }
}
