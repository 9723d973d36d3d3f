// Schemas of the runners (`agentlog runner`) and of starting, stopping and resuming their agents.
import { Type, type Static } from '@sinclair/typebox'
import { AgentId, JsonObject } from './common.js'
import { RunnerName, WorktreeInfo } from '../protocol/runner.js'

const Nullable = <T extends ReturnType<typeof Type.String>> (t: T) => Type.Union([t, Type.Null()])

export const RunnerSummary = Type.Object({
  name: Type.String(),
  host: Type.String(),
  roots: Type.Array(Type.String(), { description: 'the directories (and what is under them) it starts agents in' }),
  connected: Type.Boolean(),
  claude_version: Nullable(Type.String()),
  agents: Type.Array(Type.String(), { description: 'the agents it runs (or is starting)' }),
  last_seen_at: Type.String()
})

export const RunnerList = Type.Object({ runners: Type.Array(RunnerSummary) }, { description: 'Every runner that ever connected, by name' })

export const RunnerParams = Type.Object({ name: RunnerName })

export const StartAgentBody = Type.Object({
  agent_id: Type.Optional(AgentId),
  cwd: Type.String({ minLength: 1, maxLength: 4096, description: 'an absolute directory under one of the runner\'s roots' }),
  prompt: Type.Optional(Type.String({ minLength: 1, maxLength: 100000, pattern: '^[^\\u0000]*$', description: 'the first prompt, sent (and stored as prompt_sent) once the CLI is up' })),
  model: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  permission_mode: Type.Optional(Type.Union(['default', 'acceptEdits', 'bypassPermissions', 'plan'].map(m => Type.Literal(m)))),
  worktree: Type.Optional(Type.Union([
    Type.Literal(true),
    Type.Object({
      name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' })),
      base: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\s-][^\\s]*$' }))
    }, { additionalProperties: false })
  ], { description: 'run in a new git worktree of the repository at cwd, on branch agentlog/<name>, from base (default HEAD)' })),
  resume: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9-]+$', description: 'a Claude session id to resume' }))
}, { additionalProperties: false })

export const AgentRunResult = Type.Object({
  agent_id: Type.String(),
  runner: Type.String(),
  cwd: Type.String(),
  state: Type.Union([Type.Literal('running'), Type.Literal('stopped')]),
  worktree: Type.Union([WorktreeInfo, Type.Null()]),
  claude_session_id: Nullable(Type.String()),
  prompt: Type.Union([JsonObject({ description: 'the first prompt\'s answer (as POST /agents/:id/messages gives it)' }), Type.Null()]),
  worktree_removed: Type.Optional(Type.Boolean())
})

export const StopAgentBody = Type.Object({
  remove_worktree: Type.Optional(Type.Boolean({ description: 'also remove the agent\'s worktree, unless it has uncommitted changes (409 worktree_dirty)' }))
}, { additionalProperties: false })

export const ResumeAgentBody = Type.Object({
  runner: Type.Optional(RunnerName),
  cwd: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  fork: Type.Optional(Type.Boolean({ description: 'start a new Claude session from the old one (--fork-session)' }))
}, { additionalProperties: false })

export type StartAgentBodyType = Static<typeof StartAgentBody>
export type AgentRunResultType = Static<typeof AgentRunResult>
