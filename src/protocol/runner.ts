// The runner socket (`agentlog runner` ⇄ the server, /runners/ws/:name): one JSON message a text frame, each
// side's messages as TypeBox schemas, and the one parse function both sides use.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'

export const RUNNER_PROTOCOL = 1

const RUNNER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
const runnerNameRegex = new RegExp(RUNNER_NAME_PATTERN)

export const RunnerName = Type.String({ pattern: RUNNER_NAME_PATTERN, description: '1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit' })

export function isValidRunnerName (value: unknown): value is string {
  return typeof value === 'string' && runnerNameRegex.test(value)
}

/** Why a runner could not start or stop an agent; each is an error code of the API too (src/errors.ts). */
export const RUNNER_FAILURES = [
  'cwd_not_allowed', 'agent_running', 'not_a_repository', 'worktree_exists', 'base_not_found', 'worktree_failed',
  'worktree_dirty', 'cli_failed'
] as const
export type RunnerFailure = typeof RUNNER_FAILURES[number]

/** Why an agent's CLI ended without being asked to. */
export const EXIT_REASONS = ['finished', 'too_many_restarts', 'failed_to_start', 'runner_exiting', 'died'] as const

const Nullable = <T extends ReturnType<typeof Type.String>> (t: T) => Type.Union([t, Type.Null()])
const Int = Type.Integer()

export const WorktreeInfo = Type.Object({
  name: Type.String(),
  path: Type.String(),
  branch: Type.String(),
  base: Type.String(),
  repository: Type.String()
}, { description: 'the git worktree the agent runs in' })

const RunningAgent = Type.Object({
  agent_id: Type.String(),
  cwd: Type.String(),
  worktree: Type.Union([WorktreeInfo, Type.Null()]),
  pid: Type.Union([Int, Type.Null()])
})

// ---- runner → server ----

export const RunnerHello = Type.Object({
  type: Type.Literal('hello'),
  protocol: Type.Literal(RUNNER_PROTOCOL),
  host: Type.String(),
  roots: Type.Array(Type.String()),
  claude_version: Nullable(Type.String()),
  agentlog_version: Type.String(),
  agents: Type.Array(RunningAgent)
})

export const RunnerStarted = Type.Object({
  type: Type.Literal('started'),
  request_id: Type.String(),
  agent_id: Type.String(),
  cwd: Type.String(),
  worktree: Type.Union([WorktreeInfo, Type.Null()]),
  pid: Type.Union([Int, Type.Null()])
})

export const RunnerFailed = Type.Object({
  type: Type.Literal('failed'),
  request_id: Type.String(),
  agent_id: Type.String(),
  code: Type.Union(RUNNER_FAILURES.map(c => Type.Literal(c))),
  message: Type.String(),
  stderr: Type.Array(Type.String())
})

export const RunnerStopped = Type.Object({
  type: Type.Literal('stopped'),
  request_id: Type.String(),
  agent_id: Type.String(),
  exit_code: Type.Union([Int, Type.Null()]),
  signal: Nullable(Type.String()),
  worktree_removed: Type.Boolean()
})

export const RunnerExited = Type.Object({
  type: Type.Literal('exited'),
  agent_id: Type.String(),
  exit_code: Type.Union([Int, Type.Null()]),
  signal: Nullable(Type.String()),
  reason: Type.Union(EXIT_REASONS.map(r => Type.Literal(r))),
  stderr: Type.Array(Type.String())
})

export const FromRunner = Type.Union([RunnerHello, RunnerStarted, RunnerFailed, RunnerStopped, RunnerExited])

// ---- server → runner ----

export const StartAgent = Type.Object({
  type: Type.Literal('start'),
  request_id: Type.String(),
  agent_id: Type.String(),
  cwd: Type.String(),
  model: Nullable(Type.String()),
  permission_mode: Nullable(Type.String()),
  worktree: Type.Union([Type.Object({ name: Type.String(), base: Nullable(Type.String()) }), Type.Null()]),
  resume: Nullable(Type.String()),
  fork: Type.Boolean()
})

export const StopAgent = Type.Object({
  type: Type.Literal('stop'),
  request_id: Type.String(),
  agent_id: Type.String(),
  remove_worktree: Type.Boolean(),
  grace_ms: Int,
  /** The worktree to remove (remove_worktree), also when the agent no longer runs. */
  worktree: Type.Union([WorktreeInfo, Type.Null()])
})

export const ToRunner = Type.Union([StartAgent, StopAgent])

export type RunnerHelloType = Static<typeof RunnerHello>
export type RunnerStartedType = Static<typeof RunnerStarted>
export type RunnerFailedType = Static<typeof RunnerFailed>
export type RunnerStoppedType = Static<typeof RunnerStopped>
export type RunnerExitedType = Static<typeof RunnerExited>
export type FromRunnerType = Static<typeof FromRunner>
export type StartAgentType = Static<typeof StartAgent>
export type StopAgentType = Static<typeof StopAgent>
export type ToRunnerType = Static<typeof ToRunner>
export type WorktreeInfoType = Static<typeof WorktreeInfo>
export type RunningAgentType = Static<typeof RunningAgent>

const fromRunner = TypeCompiler.Compile(FromRunner)
const toRunner = TypeCompiler.Compile(ToRunner)

function json (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A frame from a runner, or null when it is not one of its messages. */
export function parseFromRunner (text: string): FromRunnerType | null {
  const value = json(text)
  return fromRunner.Check(value) ? value : null
}

/** A frame from the server, or null when it is not one of its messages. */
export function parseToRunner (text: string): ToRunnerType | null {
  const value = json(text)
  return toRunner.Check(value) ? value : null
}
