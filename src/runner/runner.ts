// `agentlog runner`: holds one socket to the server and starts, stops and reports the agents the server asks for,
// each through the same relay as `agentlog connect` (src/cli/connect.ts), in its own process group. A reaper child
// process ends the CLIs if the runner dies without stopping them (reaper.ts).
import { fork, type ChildProcess } from 'node:child_process'
import { realpathSync, statSync } from 'node:fs'
import { startRelay, type RelayHandle } from '../cli/connect.js'
import { DEFAULTS, type RelayHooks } from '../cli/relay/options.js'
import type { RunnerFailure, StartAgentType as StartAgent, StopAgentType as StopAgent, ToRunnerType as ToRunner, WorktreeInfoType as WorktreeInfo } from '../protocol/runner.js'
import { RUNNER_PROTOCOL } from '../protocol/runner.js'
import { checkCwd } from './roots.js'
import { RunnerLink, runnerUrl } from './link.js'
import { createWorktree, removeWorktree, worktreeStatus, WorktreeError } from './worktree.js'

export interface RunnerOptions {
  name: string
  server: string
  token: string | null
  roots: string[]
  host: string
  claudeBin: string
  claudeVersion: string | null
  agentlogVersion: string
  /** The CLI's environment (the runner's, without its token). */
  env: NodeJS.ProcessEnv
  /** How long a CLI has to come up (answer initialize, socket open) before it is killed: cli_failed. */
  startTimeoutMs: number
  /** How long a stopped CLI has after SIGTERM before SIGKILL. */
  stopGraceMs: number
  maxRestarts: number
  /** Give each CLI agentlog's MCP tools (false: --no-mcp). */
  mcp: boolean
  verbose: boolean
  log: (line: string) => void
  /** The reaper's script (null: none, the CLIs die with the runner only when it stops them). */
  reaperPath: string | null
}

interface Running {
  agentId: string
  /** The relay's hooks: a stop sets the grace the server asks for. */
  hooks: RelayHooks
  cwd: string
  worktree: WorktreeInfo | null
  relay: RelayHandle
  stderr: string[]
  ready: boolean
  /** Answered already (started or failed): the first answer stands. */
  answered: boolean
  stopping: boolean
  pids: Set<number>
}

const STDERR_TAIL = 20

function isDirectory (path: string): boolean {
  try { return statSync(path).isDirectory() } catch { return false }
}

export class Runner {
  private readonly agents = new Map<string, Running>()
  private readonly link: RunnerLink
  private reaper: ChildProcess | null = null
  private done: (code: number) => void = () => {}
  private exiting = false

  constructor (private readonly opts: RunnerOptions) {
    this.link = new RunnerLink({ url: runnerUrl(opts.server, opts.name), token: opts.token, backoffInitialMs: 200, backoffMaxMs: 10000, pingMs: 15000 }, {
      hello: () => ({
        type: 'hello',
        protocol: RUNNER_PROTOCOL,
        host: opts.host,
        roots: opts.roots,
        claude_version: opts.claudeVersion,
        agentlog_version: opts.agentlogVersion,
        agents: [...this.agents.values()].filter(a => a.ready && !a.stopping).map(a => ({ agent_id: a.agentId, cwd: a.cwd, worktree: a.worktree, pid: a.relay.pid }))
      }),
      message: (message) => this.received(message),
      fatal: (why) => {
        this.say(`error: ${why}`)
        this.exit(1).catch(() => {})
      },
      log: (text) => this.info(text)
    })
  }

  private say (text: string): void { this.opts.log(`agentlog runner: ${text}`) }
  private info (text: string): void { if (this.opts.verbose) this.say(text) }

  run (): Promise<number> {
    const result = new Promise<number>((resolve) => { this.done = resolve })
    if (this.opts.reaperPath !== null) {
      this.reaper = fork(this.opts.reaperPath, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], detached: true })
      this.reaper.on('error', (err) => this.say(`warning: the reaper did not start: ${err.message}`))
    }
    this.say(`${this.opts.name} on ${this.opts.host}: roots ${this.opts.roots.join(', ')}; ${this.opts.claudeBin} (${this.opts.claudeVersion ?? 'version unknown'}); server ${this.opts.server}`)
    this.link.connect()
    return result
  }

  /** SIGINT/SIGTERM: every CLI stopped (the server keeps them as running: a restarted runner resumes them). */
  async exit (code: number): Promise<void> {
    if (this.exiting) return
    this.exiting = true
    const all = [...this.agents.values()]
    for (const a of all) {
      a.stopping = true
      a.relay.stop()
    }
    await Promise.all(all.map(a => a.relay.done))
    await this.link.end()
    if (this.reaper !== null && this.reaper.connected) {
      this.reaper.send({ bye: true })
      this.reaper.disconnect()
    }
    this.done(code)
  }

  private received (message: ToRunner): void {
    if (this.exiting) return
    if (message.type === 'start') {
      this.start(message).catch((err: Error) => this.fail(message, 'cli_failed', err.message, []))
    } else {
      this.stop(message).catch((err: Error) => this.link.send({ type: 'failed', request_id: message.request_id, agent_id: message.agent_id, code: 'worktree_failed', message: err.message, stderr: [] }))
    }
  }

  private fail (m: StartAgent | StopAgent, code: RunnerFailure, message: string, stderr: string[]): void {
    this.info(`${m.type} ${m.agent_id} failed: ${code}: ${message}`)
    this.link.send({ type: 'failed', request_id: m.request_id, agent_id: m.agent_id, code, message, stderr })
  }

  private async start (m: StartAgent): Promise<void> {
    if (this.agents.has(m.agent_id)) return this.fail(m, 'agent_running', `agent ${m.agent_id} already runs on ${this.opts.name}`, [])
    const checked = checkCwd(m.cwd, this.opts.roots, (p) => realpathSync(p), isDirectory)
    if (!checked.ok) return this.fail(m, 'cwd_not_allowed', checked.message, [])
    let cwd = checked.cwd
    let worktree: WorktreeInfo | null = null
    if (m.worktree !== null) {
      let created: WorktreeInfo
      try {
        created = await createWorktree(cwd, m.worktree.name, m.worktree.base)
      } catch (err) {
        if (err instanceof WorktreeError) return this.fail(m, err.code, err.message, [])
        throw err
      }
      worktree = created
      cwd = created.path
    }
    const claudeArgs: string[] = []
    if (m.model !== null) claudeArgs.push('--model', m.model)
    if (m.permission_mode !== null) claudeArgs.push('--permission-mode', m.permission_mode)
    if (m.resume !== null) claudeArgs.push('--resume', m.resume)
    if (m.resume !== null && m.fork) claudeArgs.push('--fork-session')
    const stderr: string[] = []
    let entry: Running | null = null
    const deadline = setTimeout(() => {
      if (entry === null || entry.ready) return
      entry.answered = true
      entry.stopping = true
      entry.relay.stop()
      this.fail(m, 'cli_failed', `the CLI did not come up within ${this.opts.startTimeoutMs} ms`, stderr.slice())
    }, this.opts.startTimeoutMs)
    const hooks: RelayHooks = {
      killAfterMs: this.opts.stopGraceMs,
      spawned: (pid) => {
        entry?.pids.add(pid)
        if (this.reaper?.connected === true) this.reaper.send({ add: pid })
      },
      stderr: (line) => {
        stderr.push(line)
        if (stderr.length > STDERR_TAIL) stderr.shift()
        if (this.opts.verbose) this.opts.log(`[${m.agent_id}] claude: ${line}`)
      },
      ready: () => {
        clearTimeout(deadline)
        if (entry === null || entry.answered) return
        entry.ready = true
        entry.answered = true
        this.say(`started ${m.agent_id} in ${cwd} (pid ${relay.pid ?? '?'})`)
        this.link.send({ type: 'started', request_id: m.request_id, agent_id: m.agent_id, cwd, worktree, pid: relay.pid })
      }
    }
    const relay = startRelay({
      ...DEFAULTS,
      server: this.opts.server,
      agentId: m.agent_id,
      token: this.opts.token,
      claudeBin: this.opts.claudeBin,
      claudeArgs,
      maxRestarts: this.opts.maxRestarts,
      restartWindowMs: DEFAULTS.restartWindowMs,
      mcp: this.opts.mcp,
      verbose: this.opts.verbose,
      env: this.opts.env,
      cwd,
      log: (line) => this.opts.log(`[${m.agent_id}] ${line}`),
      forwardSignals: false,
      hooks
    })
    entry = { agentId: m.agent_id, hooks, cwd, worktree, relay, stderr, ready: false, answered: false, stopping: false, pids: new Set(relay.pid === null ? [] : [relay.pid]) }
    this.agents.set(m.agent_id, entry)
    const running = entry
    relay.done.then((status) => {
      clearTimeout(deadline)
      if (this.agents.get(m.agent_id) === running) this.agents.delete(m.agent_id)
      if (this.reaper?.connected === true) for (const pid of running.pids) this.reaper.send({ remove: pid })
      if (!running.answered) {
        running.answered = true
        this.fail(m, 'cli_failed', `the CLI exited (status ${status}) before it was up`, stderr.slice())
        return
      }
      if (running.stopping || this.exiting) return
      this.say(`${m.agent_id}: the CLI ended (status ${status})`)
      this.link.send({ type: 'exited', agent_id: m.agent_id, exit_code: status, signal: null, reason: status === 0 ? 'finished' : 'died', stderr: stderr.slice() })
    }, () => {})
  }

  private async stop (m: StopAgent): Promise<void> {
    const running = this.agents.get(m.agent_id)
    const worktree = running?.worktree ?? m.worktree
    if (m.remove_worktree && worktree !== null) {
      // nothing is stopped or removed when there are changes to lose
      const dirty = await this.dirty(worktree)
      if (dirty !== null) return this.fail(m, 'worktree_dirty', dirty, [])
    }
    let status: number | null = null
    if (running !== undefined) {
      running.stopping = true
      // the server's RUNNER_STOP_GRACE_MS
      running.hooks.killAfterMs = m.grace_ms
      running.relay.stop()
      status = await running.relay.done
      this.say(`stopped ${m.agent_id}`)
    }
    let removed = false
    if (m.remove_worktree && worktree !== null) {
      try {
        await removeWorktree(worktree)
        removed = true
      } catch (err) {
        if (!(err instanceof WorktreeError)) throw err
        return this.fail(m, err.code, err.message, [])
      }
    }
    this.link.send({ type: 'stopped', request_id: m.request_id, agent_id: m.agent_id, exit_code: status, signal: null, worktree_removed: removed })
  }

  /** Why the worktree cannot be removed (uncommitted changes), or null. */
  private async dirty (worktree: WorktreeInfo): Promise<string | null> {
    try {
      await worktreeStatus(worktree)
      return null
    } catch (err) {
      if (err instanceof WorktreeError && err.code === 'worktree_dirty') return err.message
      return null
    }
  }
}

export function runRunner (opts: RunnerOptions): Promise<number> {
  const runner = new Runner(opts)
  const result = runner.run()
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    opts.log(`agentlog runner: ${signal}: stopping ${signals > 1 ? '(again: exiting now)' : 'its agents'}`)
    if (signals > 1) process.exit(130)
    runner.exit(0).catch(() => {})
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return result.finally(() => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  })
}
