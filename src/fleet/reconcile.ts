// What a runner's hello means for the agents recorded as running on it (pure).
import type { RunningAgentType as RunningAgent } from '../protocol/runner.js'
import type { AgentRun } from './repository.js'

export type Reconciled =
  /** Recorded as running, and the runner runs it: nothing to do (marked running if it was starting). */
  | { action: 'keep', agentId: string, cwd: string, worktree: RunningAgent['worktree'] }
  /** The runner runs it but nothing here says so: taken on as running. */
  | { action: 'adopt', agentId: string, cwd: string, worktree: RunningAgent['worktree'] }
  /** Recorded as running, and the runner does not run it (it restarted): start it again with --resume. */
  | { action: 'resume', run: AgentRun }

export function reconcile (reported: RunningAgent[], recorded: AgentRun[]): Reconciled[] {
  const out: Reconciled[] = []
  const known = new Map(recorded.map(r => [r.agentId, r]))
  const running = new Set(reported.map(a => a.agent_id))
  for (const a of reported) {
    out.push({ action: known.has(a.agent_id) ? 'keep' : 'adopt', agentId: a.agent_id, cwd: a.cwd, worktree: a.worktree })
  }
  for (const run of recorded) {
    if (!running.has(run.agentId)) out.push({ action: 'resume', run })
  }
  return out
}
