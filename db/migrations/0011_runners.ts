// Runners (`agentlog runner`) and the agents they run (src/fleet/): who is connected where, and each started
// agent's directory, worktree and state, so a restarted server or runner knows what was running.
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('runners')
    .addColumn('name', 'text', col => col.primaryKey())
    .addColumn('host', 'text', col => col.notNull())
    // JSON array of absolute directories
    .addColumn('roots', 'text', col => col.notNull())
    .addColumn('claude_version', 'text')
    .addColumn('agentlog_version', 'text')
    // the instance holding its socket; null while it is not connected
    .addColumn('connected_instance', 'text')
    .addColumn('connected_at', 'text')
    .addColumn('last_seen_at', 'text', col => col.notNull())
    .addColumn('created_at', 'text', col => col.notNull())
    .execute()
  await db.schema.createTable('agent_runs')
    .addColumn('agent_id', 'text', col => col.primaryKey())
    .addColumn('runner', 'text', col => col.notNull())
    // starting | running | stopped
    .addColumn('state', 'text', col => col.notNull())
    .addColumn('cwd', 'text', col => col.notNull())
    // JSON of the worktree (name, path, branch, base, repository), or null
    .addColumn('worktree', 'text')
    .addColumn('model', 'text')
    .addColumn('permission_mode', 'text')
    .addColumn('started_at', 'text', col => col.notNull())
    .addColumn('stopped_at', 'text')
    .addColumn('stop_reason', 'text')
    .addColumn('updated_at', 'text', col => col.notNull())
    .execute()
  await db.schema.createIndex('agent_runs_runner').on('agent_runs').columns(['runner', 'state']).execute()
  // the directory an imported transcript's session ran in (its records' cwd): where a resume runs it
  await db.schema.alterTable('transcript_files').addColumn('cwd', 'text').execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('transcript_files').dropColumn('cwd').execute()
  await db.schema.dropTable('agent_runs').execute()
  await db.schema.dropTable('runners').execute()
}
