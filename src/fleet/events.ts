// The agent_started and agent_stopped events a runner's agents get in their logs (pure).
import type { EventDraft } from '../protocol/messages.js'
import type { WorktreeInfoType as WorktreeInfo } from '../protocol/runner.js'

/** Who asked (which configured token, never the token), or null when the fleet did it by itself. */
export type By = { role: string, token_number: number, name: string | null } | null

export interface RunFacts {
  by: By
  runner: string
  cwd: string
  worktree: WorktreeInfo | null
  claudeSessionId: string | null
  reason: string
}

function metadata (f: RunFacts): Record<string, unknown> {
  return { by: f.by, runner: f.runner, cwd: f.cwd, worktree: f.worktree, claude_session_id: f.claudeSessionId, reason: f.reason }
}

export function agentStartedDraft (f: RunFacts): EventDraft {
  const how = f.reason === 'started' ? 'started' : f.reason === 'forked' ? `forked from session ${f.claudeSessionId ?? '?'}` : `resumed (${f.reason})`
  return { event_type: 'agent_started', content: `${how} by runner ${f.runner} in ${f.cwd}`, metadata: metadata(f) }
}

export function agentStoppedDraft (f: RunFacts & { exitCode: number | null, signal: string | null }): EventDraft {
  return {
    event_type: 'agent_stopped',
    content: `stopped on runner ${f.runner} (${f.reason})`,
    metadata: { ...metadata(f), exit_code: f.exitCode, signal: f.signal }
  }
}
