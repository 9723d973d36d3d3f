// The fleet: the runners connected to this instance and what the API asks of them (start, stop, resume an agent),
// each request answered by the runner (matched by request_id, bounded by a deadline), the runs recorded
// (src/fleet/repository.ts) and the agent_started / agent_stopped events written to the agents' logs.
import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { AgentHub } from '../agent-hub.js'
import type { Config } from '../config.js'
import { agentNotFound, ERROR_CODES, errorCode, httpError, type HttpError } from '../errors.js'
import type { PromptSender } from '../prompt.js'
import { RunnerCloseCodes } from '../protocol/close-codes.js'
import type { FromRunnerType as FromRunner, RunnerExitedType as RunnerExited, RunnerHelloType as RunnerHello, StartAgentType as StartAgent, StopAgentType as StopAgent, WorktreeInfoType as WorktreeInfo } from '../protocol/runner.js'
import type { AgentRunResultType as AgentRunResult, StartAgentBodyType as StartAgentBody } from '../schemas/runners.js'
import type { EventStore } from '../store/event-store.js'
import { agentStartedDraft, agentStoppedDraft, type By } from './events.js'
import { reconcile } from './reconcile.js'
import type { AgentRun, FleetRepository } from './repository.js'

/** One runner's socket, as the fleet uses it. */
export interface RunnerSocket {
  send: (text: string) => void
  close: (code: number, reason: string) => void
}

interface Connection {
  name: string
  socket: RunnerSocket
  hello: RunnerHello
}

type Reply = Extract<FromRunner, { type: 'started' | 'failed' | 'stopped' }>

interface Pending {
  runner: string
  resolve: (reply: Reply) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/** Several instances: where a runner's socket is, and a command for that instance (src/cluster/). */
export interface FleetCluster {
  liveInstances: () => Promise<Set<string>>
  owns: (agentId: string) => boolean
  locate: (agentId: string) => string | null
  onPresence: (listener: (agentId: string, state: 'connected' | 'disconnected', instance: string) => void) => () => void
  route: (agentId: string, kind: string, body: unknown, waitMs: number) => Promise<{ status: number, body: unknown } | null>
  forwardTo: (target: string, agentId: string, kind: string, body: unknown, waitMs: number) => Promise<{ status: number, body: unknown }>
  serveCommand: (kind: string, executor: (agentId: string, body: unknown) => Promise<{ status: number, body: unknown }>) => void
}

export interface FleetDeps {
  repo: FleetRepository
  events: EventStore
  agents: AgentHub
  prompt: PromptSender
  config: Pick<Config, 'instanceId' | 'runnerStartTimeoutMs' | 'runnerStopGraceMs'>
  log: FastifyBaseLogger
  cluster: FleetCluster | null
}

export interface ResumeRequest { runner?: string, cwd?: string, fork?: boolean }

/** Whether dir is root or under it (plain paths; the runner checks again with symlinks resolved). */
function under (root: string, dir: string): boolean {
  const r = root.endsWith('/') ? root : root + '/'
  return dir === root || dir.startsWith(r)
}

export function createFleet ({ repo, events, agents, prompt, config, log, cluster }: FleetDeps) {
  const connections = new Map<string, Connection>()
  const pending = new Map<string, Pending>()
  /** Agents a start was sent for and not yet answered: a second start is refused (agent_running). */
  const starting = new Set<string>()
  /** Agents being stopped on request: their CLI's exit is not news. */
  const stopping = new Set<string>()

  function failure (code: string, message: string): HttpError {
    const known = Object.hasOwn(ERROR_CODES, code) ? code as keyof typeof ERROR_CODES : 'cli_failed'
    return httpError(ERROR_CODES[known].status, message, known)
  }

  function ask (conn: Connection, message: StartAgent | StopAgent, waitMs: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(message.request_id)
        reject(httpError(504, `runner ${conn.name} did not answer within ${waitMs} ms`, 'runner_timeout'))
      }, waitMs)
      pending.set(message.request_id, { runner: conn.name, resolve, reject, timer })
      conn.socket.send(JSON.stringify(message))
    })
  }

  /** Whether the agent's socket is open here, or (several instances) on another live instance. */
  function agentConnected (agentId: string): boolean {
    return agents.isConnected(agentId) || (cluster !== null && cluster.locate(agentId) !== null)
  }

  /** Resolves once the agent's socket is open (here, or on another instance), or throws at the deadline. */
  function connectedBy (agentId: string, deadline: number): Promise<void> {
    if (agentConnected(agentId)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const offs: Array<() => void> = []
      const done = (): void => { for (const off of offs) off() }
      const timer = setTimeout(() => {
        done()
        reject(httpError(504, `agent ${agentId}'s CLI is up but its socket did not reach the server in time`, 'runner_timeout'))
      }, Math.max(0, deadline - Date.now()))
      const seen = (id: string, state: string): void => {
        if (id !== agentId || state !== 'connected') return
        clearTimeout(timer)
        done()
        resolve()
      }
      offs.push(agents.onChange(seen))
      if (cluster !== null) offs.push(cluster.onPresence(seen))
    })
  }

  /** Writes the event here, or (several instances) on the instance that owns the agent's log. */
  async function record (agentId: string, draft: ReturnType<typeof agentStartedDraft>): Promise<void> {
    if (cluster !== null && !cluster.owns(agentId)) {
      const remote = await cluster.route(agentId, 'fleet-record', { draft }, 15000)
      if (remote !== null) return
    }
    await events.loadAgent(agentId, true)
    await events.record(agentId, [draft])
  }

  /** The first prompt: sent here, or by the instance holding the agent's socket. */
  async function firstPrompt (agentId: string, content: string): Promise<unknown> {
    if (cluster !== null && !agents.isConnected(agentId)) {
      const remote = await cluster.route(agentId, 'prompt', { content }, 15000)
      if (remote !== null) {
        if (remote.status >= 400) {
          const err = remote.body as { message: string, code: string }
          throw httpError(remote.status, err.message, errorCode(err.code, remote.status))
        }
        return remote.body
      }
    }
    return await prompt(agentId, content)
  }

  /** The live instance (not this one) holding the runner's socket, or null. */
  async function elsewhere (name: string): Promise<string | null> {
    if (cluster === null || connections.has(name)) return null
    const row = await repo.runner(name)
    const at = row?.connected_instance ?? null
    if (at === null || at === config.instanceId) return null
    return (await cluster.liveInstances()).has(at) ? at : null
  }

  /** Carries the request to the instance holding the runner's socket; its errors are thrown again as it gave them. */
  async function remote (target: string, agentId: string, kind: string, body: unknown, waitMs: number): Promise<AgentRunResult> {
    if (cluster === null) throw new Error('no cluster')
    const result = await cluster.forwardTo(target, agentId, kind, body, waitMs + 5000)
    if (result.status >= 400) {
      const err = result.body as { message: string, code: string }
      throw httpError(result.status, err.message, errorCode(err.code, result.status))
    }
    return result.body as AgentRunResult
  }

  function connection (name: string): Connection {
    const conn = connections.get(name)
    if (conn === undefined) throw httpError(409, `runner ${JSON.stringify(name)} is not connected`, 'runner_not_connected')
    return conn
  }

  async function knownConnection (name: string): Promise<Connection> {
    if (!connections.has(name) && await repo.runner(name) === null) {
      throw httpError(404, `no runner named ${JSON.stringify(name)} has connected`, 'runner_not_found')
    }
    return connection(name)
  }

  async function isRunning (agentId: string): Promise<boolean> {
    if (starting.has(agentId) || agentConnected(agentId)) return true
    const run = await repo.run(agentId)
    return run !== null && run.state !== 'stopped' && connections.get(run.runner)?.hello.agents.some(a => a.agent_id === agentId) === true
  }

  interface Launch {
    agentId: string
    cwd: string
    model: string | null
    permissionMode: string | null
    worktree: { name: string, base: string | null } | null
    resume: string | null
    fork: boolean
    prompt: string | null
    by: By
    reason: 'started' | 'resumed' | 'forked' | 'runner_restarted'
  }

  async function launch (conn: Connection, l: Launch): Promise<AgentRunResult> {
    if (await isRunning(l.agentId)) throw httpError(409, `agent ${JSON.stringify(l.agentId)} already runs`, 'agent_running')
    starting.add(l.agentId)
    const deadline = Date.now() + config.runnerStartTimeoutMs
    const requestId = randomUUID()
    try {
      await repo.starting({ agentId: l.agentId, runner: conn.name, cwd: l.cwd, worktree: null, model: l.model, permissionMode: l.permissionMode })
      const reply = await ask(conn, {
        type: 'start',
        request_id: requestId,
        agent_id: l.agentId,
        cwd: l.cwd,
        model: l.model,
        permission_mode: l.permissionMode,
        worktree: l.worktree,
        resume: l.resume,
        fork: l.fork
      }, config.runnerStartTimeoutMs)
      if (reply.type === 'failed') {
        await repo.stopped(l.agentId, 'start_failed')
        const tail = reply.stderr.length > 0 ? `; the CLI's last stderr lines:\n${reply.stderr.join('\n')}` : ''
        throw failure(reply.code, `${reply.message}${tail}`)
      }
      if (reply.type !== 'started') throw httpError(502, `runner ${conn.name} answered the start with ${reply.type}`, 'cli_failed')
      try {
        await connectedBy(l.agentId, deadline)
      } catch (err) {
        conn.socket.send(JSON.stringify({ type: 'stop', request_id: randomUUID(), agent_id: l.agentId, remove_worktree: false, grace_ms: config.runnerStopGraceMs, worktree: null }))
        await repo.stopped(l.agentId, 'start_failed')
        throw err
      }
      await repo.running(l.agentId, reply.cwd, reply.worktree)
      const sessionId = l.fork ? null : l.resume
      await record(l.agentId, agentStartedDraft({ by: l.by, runner: conn.name, cwd: reply.cwd, worktree: reply.worktree, claudeSessionId: sessionId, reason: l.reason }))
      const first = l.prompt === null ? null : await firstPrompt(l.agentId, l.prompt)
      return {
        agent_id: l.agentId,
        runner: conn.name,
        cwd: reply.cwd,
        state: 'running',
        worktree: reply.worktree,
        claude_session_id: sessionId,
        prompt: first as unknown as Record<string, unknown> | null
      }
    } finally {
      starting.delete(l.agentId)
    }
  }

  /** The Claude session an agent was last in: from its live socket, its log, or an imported transcript. */
  async function claudeSession (agentId: string): Promise<string | null> {
    const live = agents.get(agentId)?.claudeSessionId
    if (live !== undefined && live !== null) return live
    const state = await events.loadAgent(agentId, false)
    return state?.committed.claudeSessionId ?? (await repo.importedSession(agentId))?.sessionId ?? null
  }

  async function exited (name: string, message: RunnerExited): Promise<void> {
    if (stopping.has(message.agent_id)) return
    const run = await repo.run(message.agent_id)
    if (run === null || run.runner !== name || run.state === 'stopped') return
    await repo.stopped(message.agent_id, message.reason)
    await record(message.agent_id, agentStoppedDraft({
      by: null,
      runner: name,
      cwd: run.cwd,
      worktree: run.worktree,
      claudeSessionId: await claudeSession(message.agent_id),
      reason: message.reason,
      exitCode: message.exit_code,
      signal: message.signal
    }))
  }

  /** A runner said hello: what it runs is taken as the truth; what it no longer runs is resumed. */
  async function helloed (conn: Connection): Promise<void> {
    const recorded = await repo.activeRuns(conn.name)
    for (const step of reconcile(conn.hello.agents, recorded)) {
      if (step.action === 'keep' || step.action === 'adopt') {
        if (step.action === 'adopt') await repo.starting({ agentId: step.agentId, runner: conn.name, cwd: step.cwd, worktree: step.worktree, model: null, permissionMode: null })
        await repo.running(step.agentId, step.cwd, step.worktree)
        continue
      }
      const run = step.run
      if (starting.has(run.agentId)) continue
      const session = await claudeSession(run.agentId)
      if (session === null) {
        await repo.stopped(run.agentId, 'runner_restarted')
        await record(run.agentId, agentStoppedDraft({ by: null, runner: conn.name, cwd: run.cwd, worktree: run.worktree, claudeSessionId: null, reason: 'runner_restarted', exitCode: null, signal: null }))
        continue
      }
      launch(conn, {
        agentId: run.agentId,
        cwd: run.worktree?.path ?? run.cwd,
        model: run.model,
        permissionMode: run.permissionMode,
        worktree: null,
        resume: session,
        fork: false,
        prompt: null,
        by: null,
        reason: 'runner_restarted'
      }).catch((err: Error) => log.warn({ err, agentId: run.agentId, runner: conn.name }, 'could not resume an agent of a restarted runner'))
    }
  }

  const fleet = {
    /** A runner's socket said hello: it is this name's connection now (an older one is closed). */
    async attach (name: string, socket: RunnerSocket, hello: RunnerHello): Promise<Connection> {
      const previous = connections.get(name)
      const conn: Connection = { name, socket, hello }
      connections.set(name, conn)
      if (previous !== undefined) previous.socket.close(RunnerCloseCodes.REPLACED, 'replaced by a newer runner of the same name')
      await repo.connected(name, hello, config.instanceId)
      log.info({ runner: name, host: hello.host, agents: hello.agents.length }, 'runner connected')
      helloed(conn).catch((err: Error) => log.error({ err, runner: name }, 'runner hello not reconciled'))
      return conn
    },

    async detach (conn: Connection): Promise<void> {
      if (connections.get(conn.name) !== conn) return
      connections.delete(conn.name)
      for (const [id, p] of pending) {
        if (p.runner !== conn.name) continue
        clearTimeout(p.timer)
        pending.delete(id)
        p.reject(httpError(409, `runner ${conn.name} disconnected`, 'runner_not_connected'))
      }
      await repo.disconnected(conn.name, config.instanceId)
      log.info({ runner: conn.name }, 'runner disconnected')
    },

    /** A message from a connected runner. */
    async received (conn: Connection, message: FromRunner): Promise<void> {
      if (message.type === 'hello') return
      if (message.type === 'exited') {
        conn.hello.agents = conn.hello.agents.filter(a => a.agent_id !== message.agent_id)
        await exited(conn.name, message)
        return
      }
      if (message.type === 'started') {
        conn.hello.agents = [...conn.hello.agents.filter(a => a.agent_id !== message.agent_id), { agent_id: message.agent_id, cwd: message.cwd, worktree: message.worktree, pid: message.pid }]
      }
      if (message.type === 'stopped') conn.hello.agents = conn.hello.agents.filter(a => a.agent_id !== message.agent_id)
      const waiting = pending.get(message.request_id)
      if (waiting === undefined) return
      clearTimeout(waiting.timer)
      pending.delete(message.request_id)
      waiting.resolve(message)
    },

    isConnected (name: string): boolean {
      return connections.has(name)
    },

    /** The runner an agent runs (or is being started) under, or null: whose token may open its socket. */
    async runnerOf (agentId: string): Promise<string | null> {
      const run = await repo.run(agentId)
      return run === null || run.state === 'stopped' ? null : run.runner
    },

    async list () {
      const [rows, runs] = await Promise.all([repo.runners(), repo.activeRuns()])
      const alive = cluster === null ? null : await cluster.liveInstances()
      const connectedElsewhere = (r: typeof rows[number]): boolean => alive !== null && r.connected_instance !== null && r.connected_instance !== config.instanceId && alive.has(r.connected_instance)
      return {
        runners: rows.map(r => ({
          name: r.name,
          host: r.host,
          roots: JSON.parse(r.roots) as string[],
          connected: connections.has(r.name) || connectedElsewhere(r),
          claude_version: r.claude_version,
          agents: runs.filter(run => run.runner === r.name).map(run => run.agentId),
          last_seen_at: connections.has(r.name) ? new Date().toISOString() : r.last_seen_at
        }))
      }
    },

    async start (name: string, body: StartAgentBody, by: By): Promise<AgentRunResult> {
      const agentId = body.agent_id ?? `${name}-${randomBytes(4).toString('hex')}`
      const target = await elsewhere(name)
      if (target !== null) return await remote(target, agentId, 'runner-start', { name, body: { ...body, agent_id: agentId }, by }, config.runnerStartTimeoutMs)
      const conn = await knownConnection(name)
      const worktree = body.worktree === undefined
        ? null
        : { name: (body.worktree === true ? undefined : body.worktree.name) ?? agentId.replace(/[^A-Za-z0-9._-]/g, '-'), base: (body.worktree === true ? undefined : body.worktree.base) ?? null }
      return await launch(conn, {
        agentId,
        cwd: body.cwd,
        model: body.model ?? null,
        permissionMode: body.permission_mode ?? null,
        worktree,
        resume: body.resume ?? null,
        fork: false,
        prompt: body.prompt ?? null,
        by,
        reason: body.resume !== undefined ? 'resumed' : 'started'
      })
    },

    async stop (agentId: string, removeWorktree: boolean, by: By): Promise<AgentRunResult> {
      const run = await repo.run(agentId)
      if (run === null) {
        if (await events.loadAgent(agentId, false) === null) throw agentNotFound(agentId)
        throw httpError(409, `agent ${JSON.stringify(agentId)} was not started by a runner`, 'not_started_by_runner')
      }
      const base = { agent_id: agentId, runner: run.runner, cwd: run.cwd, state: 'stopped' as const, claude_session_id: await claudeSession(agentId), prompt: null }
      if (run.state === 'stopped' && !(removeWorktree && run.worktree !== null)) return { ...base, worktree: run.worktree, worktree_removed: false }
      const target = await elsewhere(run.runner)
      if (target !== null) return await remote(target, agentId, 'runner-stop', { removeWorktree, by }, config.runnerStopGraceMs + 10000)
      const conn = connection(run.runner)
      stopping.add(agentId)
      try {
        const reply = await ask(conn, {
          type: 'stop', request_id: randomUUID(), agent_id: agentId, remove_worktree: removeWorktree, grace_ms: config.runnerStopGraceMs, worktree: run.worktree
        }, config.runnerStopGraceMs + 10000)
        if (reply.type === 'failed') throw failure(reply.code, reply.message)
        if (reply.type !== 'stopped') throw httpError(502, `runner ${conn.name} answered the stop with ${reply.type}`, 'cli_failed')
        const worktree = reply.worktree_removed ? null : run.worktree
        if (run.state !== 'stopped') {
          await repo.stopped(agentId, 'stopped', worktree)
          await record(agentId, agentStoppedDraft({ by, runner: run.runner, cwd: run.cwd, worktree: run.worktree, claudeSessionId: base.claude_session_id, reason: 'stopped', exitCode: reply.exit_code, signal: reply.signal }))
        } else if (reply.worktree_removed) {
          await repo.stopped(agentId, run.stopReason ?? 'stopped', null)
        }
        return { ...base, worktree, worktree_removed: reply.worktree_removed }
      } finally {
        stopping.delete(agentId)
      }
    },

    async resume (agentId: string, req: ResumeRequest, by: By): Promise<AgentRunResult> {
      const state = await events.loadAgent(agentId, false)
      const run = await repo.run(agentId)
      if (state === null && run === null) throw agentNotFound(agentId)
      const session = await claudeSession(agentId)
      if (session === null) throw httpError(409, `agent ${JSON.stringify(agentId)} has no Claude session to resume`, 'no_session')
      const infoCwd = state?.committed.info?.cwd
      const cwd = req.cwd ?? run?.worktree?.path ?? run?.cwd ?? (typeof infoCwd === 'string' ? infoCwd : null) ?? (await repo.importedSession(agentId))?.cwd ?? null
      if (cwd === null) throw httpError(400, `the directory agent ${JSON.stringify(agentId)} ran in is not known: say it with cwd`, 'bad_request')
      let name = req.runner ?? null
      if (name === null) {
        // the runners connected anywhere (several instances: the database says where) whose roots hold the directory
        const alive = cluster === null ? null : await cluster.liveInstances()
        const rows = await repo.runners()
        const candidates = rows.filter(r => (connections.has(r.name) || (alive !== null && r.connected_instance !== null && alive.has(r.connected_instance))) &&
          (JSON.parse(r.roots) as string[]).some(root => under(root, cwd))).map(r => r.name)
        const preferred = candidates.find(c => c === run?.runner) ?? candidates.find(c => connections.has(c)) ?? candidates[0]
        if (preferred === undefined) {
          if (run !== null) name = run.runner
          else throw httpError(404, `no connected runner has ${cwd} under its roots`, 'runner_not_found')
        } else {
          name = preferred
        }
      }
      const target = await elsewhere(name)
      if (target !== null) return await remote(target, agentId, 'runner-resume', { req: { ...req, runner: name, cwd }, by }, config.runnerStartTimeoutMs)
      const conn = await knownConnection(name)
      const fork = req.fork === true
      return await launch(conn, {
        agentId,
        cwd,
        model: run?.model ?? null,
        permissionMode: run?.permissionMode ?? null,
        worktree: null,
        resume: session,
        fork,
        prompt: null,
        by,
        reason: fork ? 'forked' : 'resumed'
      })
    },

    /** The server is closing: every wait ends (the runners reconnect to the next instance). */
    close (): void {
      for (const [id, p] of pending) {
        clearTimeout(p.timer)
        pending.delete(id)
        p.reject(httpError(503, 'the server is shutting down', 'shutting_down'))
      }
      for (const conn of connections.values()) conn.socket.close(1001, 'server shutting down')
    }
  }

  // several instances: what another instance forwards here, for the runners whose sockets are here
  cluster?.serveCommand('fleet-record', async (agentId, body) => {
    await events.loadAgent(agentId, true)
    await events.record(agentId, [(body as { draft: ReturnType<typeof agentStartedDraft> }).draft])
    return { status: 200, body: null }
  })
  cluster?.serveCommand('runner-start', async (_agentId, body) => {
    const { name, body: start, by } = body as { name: string, body: StartAgentBody, by: By }
    return { status: 201, body: await fleet.start(name, start, by) }
  })
  cluster?.serveCommand('runner-stop', async (agentId, body) => {
    const { removeWorktree, by } = body as { removeWorktree: boolean, by: By }
    return { status: 200, body: await fleet.stop(agentId, removeWorktree, by) }
  })
  cluster?.serveCommand('runner-resume', async (agentId, body) => {
    const { req, by } = body as { req: ResumeRequest, by: By }
    return { status: 201, body: await fleet.resume(agentId, req, by) }
  })
  return fleet
}

export type Fleet = ReturnType<typeof createFleet>
export type { AgentRun, WorktreeInfo }
