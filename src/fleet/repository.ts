// The runners and the agents they run, in the database (db/migrations/0011_runners.ts): Kysely queries only.
import type { Kysely, Selectable } from 'kysely'
import type { AgentRunsTable, Database, RunnersTable } from '../../db/schema.js'
import type { RunnerHelloType as RunnerHello, WorktreeInfoType as WorktreeInfo } from '../protocol/runner.js'

export type RunnerRow = Selectable<RunnersTable>
export type RunState = AgentRunsTable['state']

export interface AgentRun {
  agentId: string
  runner: string
  state: RunState
  cwd: string
  worktree: WorktreeInfo | null
  model: string | null
  permissionMode: string | null
  startedAt: string
  stoppedAt: string | null
  stopReason: string | null
}

function toRun (row: Selectable<AgentRunsTable>): AgentRun {
  return {
    agentId: row.agent_id,
    runner: row.runner,
    state: row.state,
    cwd: row.cwd,
    worktree: row.worktree === null ? null : JSON.parse(row.worktree) as WorktreeInfo,
    model: row.model,
    permissionMode: row.permission_mode,
    startedAt: row.started_at,
    stoppedAt: row.stopped_at,
    stopReason: row.stop_reason
  }
}

export function createFleetRepository (db: Kysely<Database>) {
  const now = (): string => new Date().toISOString()
  return {
    async runner (name: string): Promise<RunnerRow | null> {
      return await db.selectFrom('runners').selectAll().where('name', '=', name).executeTakeFirst() ?? null
    },

    async runners (): Promise<RunnerRow[]> {
      return await db.selectFrom('runners').selectAll().orderBy('name', 'asc').execute()
    },

    /** A runner said hello on this instance. */
    async connected (name: string, hello: RunnerHello, instanceId: string): Promise<void> {
      const at = now()
      const values = {
        host: hello.host,
        roots: JSON.stringify(hello.roots),
        claude_version: hello.claude_version,
        agentlog_version: hello.agentlog_version,
        connected_instance: instanceId,
        connected_at: at,
        last_seen_at: at
      }
      await db.insertInto('runners').values({ name, ...values, created_at: at })
        .onConflict(oc => oc.column('name').doUpdateSet(values))
        .execute()
    },

    /** Its socket on this instance closed (a newer one elsewhere is left alone). */
    async disconnected (name: string, instanceId: string): Promise<void> {
      await db.updateTable('runners').set({ connected_instance: null, last_seen_at: now() })
        .where('name', '=', name).where('connected_instance', '=', instanceId).execute()
    },

    async run (agentId: string): Promise<AgentRun | null> {
      const row = await db.selectFrom('agent_runs').selectAll().where('agent_id', '=', agentId).executeTakeFirst()
      return row === undefined ? null : toRun(row)
    },

    /** The runs that are not stopped, of one runner or of all. */
    async activeRuns (runner?: string): Promise<AgentRun[]> {
      let q = db.selectFrom('agent_runs').selectAll().where('state', '!=', 'stopped')
      if (runner !== undefined) q = q.where('runner', '=', runner)
      return (await q.orderBy('agent_id', 'asc').execute()).map(toRun)
    },

    async runs (): Promise<AgentRun[]> {
      return (await db.selectFrom('agent_runs').selectAll().execute()).map(toRun)
    },

    /** A start was sent: the run is `starting` (a stopped one of the same agent is replaced). */
    async starting (run: Omit<AgentRun, 'state' | 'startedAt' | 'stoppedAt' | 'stopReason'>): Promise<void> {
      const at = now()
      const values = {
        runner: run.runner,
        state: 'starting' as const,
        cwd: run.cwd,
        worktree: run.worktree === null ? null : JSON.stringify(run.worktree),
        model: run.model,
        permission_mode: run.permissionMode,
        started_at: at,
        stopped_at: null,
        stop_reason: null,
        updated_at: at
      }
      await db.insertInto('agent_runs').values({ agent_id: run.agentId, ...values })
        .onConflict(oc => oc.column('agent_id').doUpdateSet(values))
        .execute()
    },

    async running (agentId: string, cwd: string, worktree: WorktreeInfo | null): Promise<void> {
      await db.updateTable('agent_runs')
        .set({ state: 'running', cwd, worktree: worktree === null ? null : JSON.stringify(worktree), updated_at: now() })
        .where('agent_id', '=', agentId).execute()
    },

    async stopped (agentId: string, reason: string, worktree?: WorktreeInfo | null): Promise<void> {
      const at = now()
      await db.updateTable('agent_runs')
        .set({ state: 'stopped', stopped_at: at, stop_reason: reason, updated_at: at, ...(worktree !== undefined ? { worktree: worktree === null ? null : JSON.stringify(worktree) } : {}) })
        .where('agent_id', '=', agentId).execute()
    },

    /** The newest imported transcript's Claude session of an agent and the directory it ran in, or null. */
    async importedSession (agentId: string): Promise<{ sessionId: string, cwd: string | null } | null> {
      const row = await db.selectFrom('transcript_files').select(['claude_session_id', 'cwd'])
        .where('agent_id', '=', agentId).where('claude_session_id', 'is not', null)
        .orderBy('updated_at', 'desc').limit(1).executeTakeFirst()
      return row?.claude_session_id == null ? null : { sessionId: row.claude_session_id, cwd: row.cwd }
    }
  }
}

export type FleetRepository = ReturnType<typeof createFleetRepository>
