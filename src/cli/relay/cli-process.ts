// One Claude Code process in stdio stream-json mode: started, its stdout read as lines, its stdin written, and how
// it is made to stop.
import { spawn, type ChildProcess } from 'node:child_process'
import type { RelayLog } from './log.js'
import type { RelayHooks } from './options.js'
import { exitStatus } from './restarts.js'

/** The flags that put Claude Code in stdio stream-json mode with permission requests on stdout. */
export const STDIO_ARGS = [
  '-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose', '--permission-prompt-tool', 'stdio'
]

/** What the process reports; nothing once it was retired (replaced, or stopped for good). */
export interface CliEvents {
  /** A non-blank line it wrote on stdout. */
  line (line: string): void
  /** It could not be started. */
  failed (err: Error): void
  /** It exited, and every line it wrote has been read. */
  closed (code: number | null, signal: NodeJS.Signals | null): void
}

/** How long a CLI asked to stop (SIGTERM) has before it is killed. */
const KILL_AFTER_MS = 3000

export class CliProcess {
  /** Replaced by a fresh process, or stopped for good: nothing more it says is relayed, and its exit is not ours. */
  retired = false
  /** We asked it to stop (a signal passed on, or we are stopping): its exit is not a death to recover from. */
  asked = false
  /** It has exited: what the server sends now waits for the next process. */
  exited = false
  /** It wrote a line: it got as far as running. */
  ranOnce = false
  /** Resolves once it has closed (or could not be started). */
  readonly closed: Promise<void>
  private readonly child: ChildProcess

  private readonly hooks: RelayHooks | undefined

  constructor (bin: string, extraArgs: string[], where: { cwd: string, env: NodeJS.ProcessEnv, hooks?: RelayHooks }, events: CliEvents, log: RelayLog) {
    const args = [...STDIO_ARGS, ...extraArgs]
    const [command, argv] = /\.[cm]?js$/.test(bin) ? [process.execPath, [bin, ...args]] : [bin, args]
    // its own process group: a Ctrl-C in the terminal reaches it once, through us
    const hooks = where.hooks
    const child = spawn(command, argv, { cwd: where.cwd, env: where.env, stdio: ['pipe', 'pipe', hooks?.stderr !== undefined ? 'pipe' : 'inherit'], detached: true })
    this.child = child
    this.hooks = hooks
    if (child.pid !== undefined) hooks?.spawned?.(child.pid)
    const onStderr = hooks?.stderr
    if (onStderr !== undefined && child.stderr !== null) {
      let rest = ''
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        rest += chunk
        const parts = rest.split('\n')
        rest = parts.pop() ?? ''
        for (const part of parts) if (part.trim() !== '') onStderr(part)
      })
      child.stderr.once('end', () => { if (rest.trim() !== '') onStderr(rest) })
    }
    let onClosed: () => void = () => {}
    this.closed = new Promise(resolve => { onClosed = resolve })
    log.info(`started ${bin} (pid ${child.pid ?? '?'})`)
    child.stdin?.on('error', (err) => { log.info(`CLI stdin: ${err.message}`) })
    child.stdout?.setEncoding('utf8')
    let partial = ''
    child.stdout?.on('data', (chunk: string) => {
      partial += chunk
      let cut = partial.indexOf('\n')
      while (cut !== -1) {
        const line = partial.slice(0, cut)
        partial = partial.slice(cut + 1)
        if (!this.retired && line.trim() !== '') {
          this.ranOnce = true
          events.line(line)
        }
        cut = partial.indexOf('\n')
      }
    })
    child.once('error', (err) => {
      if (this.retired) return
      onClosed()
      events.failed(err)
    })
    child.once('exit', () => { this.exited = true })
    // 'close', not 'exit': every line it wrote has been read by then
    child.once('close', (code, signal) => {
      this.exited = true
      onClosed()
      if (this.retired) return
      events.closed(code, signal)
    })
  }

  get pid (): number | null {
    return this.child.pid ?? null
  }

  /** Its exit status once it has exited (code, or 128 + the signal's number), else null. */
  get exitStatus (): number | null {
    const { exitCode, signalCode } = this.child
    if (exitCode === null && signalCode === null) return null
    return exitStatus(exitCode, signalCode)
  }

  /** Still running: it has neither exited nor been killed. */
  get running (): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** One line on its stdin: 'full' when it is not reading (wait for onceDrained), 'gone' when its stdin is closed. */
  write (line: string): 'written' | 'full' | 'gone' {
    const stdin = this.child.stdin
    if (stdin === undefined || stdin === null || stdin.destroyed) return 'gone'
    // the CLI reads lines: each one must end with a newline or it waits forever
    return stdin.write(line + '\n') ? 'written' : 'full'
  }

  onceDrained (then: () => void): void {
    this.child.stdin?.once('drain', then)
  }

  kill (signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }

  /** How long it has after SIGTERM: read when it is asked to stop (`agentlog runner` sets it per stop). */
  private get killAfterMs (): number {
    return this.hooks?.killAfterMs ?? KILL_AFTER_MS
  }

  /** The signal for its whole process group (the tools it started too), or itself when that fails. */
  private killGroup (signal: NodeJS.Signals): void {
    const pid = this.child.pid
    try {
      if (pid === undefined) throw new Error('no pid')
      process.kill(-pid, signal)
    } catch {
      this.child.kill(signal)
    }
  }

  /** Replaced by a fresh process: its stdin closed, SIGTERM, and SIGKILL if it is still there 3 s later. */
  retire (): void {
    this.retired = true
    this.child.stdin?.end()
    this.killGroup('SIGTERM')
    const killer = setTimeout(() => this.killGroup('SIGKILL'), this.killAfterMs)
    // it has its SIGTERM and its stdin is closed: no reason to keep this process alive for it
    killer.unref()
    this.child.once('close', () => clearTimeout(killer))
  }

  /** Stopped for good (the relay ends): SIGTERM to its process group, SIGKILL after killAfterMs (3 s); resolves once it has closed. */
  async terminate (): Promise<void> {
    this.retired = true
    this.killGroup('SIGTERM')
    const killer = setTimeout(() => this.killGroup('SIGKILL'), this.killAfterMs)
    await this.closed
    clearTimeout(killer)
  }
}
