// Tool calls waiting for (or decided by) a person, and the allow/deny rules operators asked to remember.
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('approvals')
    .addColumn('agent_id', 'text', col => col.notNull())
    .addColumn('request_id', 'text', col => col.notNull())
    // the CLI's request_id as JSON (a string or a number): the answer must carry it exactly as sent
    .addColumn('raw_request_id', 'text', col => col.notNull())
    .addColumn('tool_name', 'text', col => col.notNull())
    .addColumn('input', 'text', col => col.notNull())
    .addColumn('tool_use_id', 'text')
    .addColumn('rule', 'text')
    .addColumn('session_number', 'integer', col => col.notNull())
    .addColumn('seq', 'integer')
    .addColumn('requested_at', 'text', col => col.notNull())
    .addColumn('status', 'text', col => col.notNull())
    .addColumn('behavior', 'text')
    .addColumn('message', 'text')
    .addColumn('updated_input', 'text')
    .addColumn('decided_by', 'text')
    .addColumn('decided_at', 'text')
    .addColumn('waited_ms', 'integer')
    .addColumn('delivered', 'integer', col => col.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('approvals_pk', ['agent_id', 'request_id'])
    .execute()
  await db.schema.createIndex('approvals_status').on('approvals').columns(['status', 'requested_at']).execute()

  await db.schema.createTable('approval_rules')
    .addColumn('id', 'text', col => col.primaryKey())
    .addColumn('agent_id', 'text', col => col.notNull())
    .addColumn('scope', 'text', col => col.notNull())
    .addColumn('session_number', 'integer')
    .addColumn('tool', 'text', col => col.notNull())
    .addColumn('input', 'text')
    .addColumn('decision', 'text', col => col.notNull())
    .addColumn('created_at', 'text', col => col.notNull())
    .addColumn('created_by', 'text')
    .addColumn('request_id', 'text')
    .execute()
  await db.schema.createIndex('approval_rules_agent').on('approval_rules').columns(['agent_id']).execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('approval_rules').execute()
  await db.schema.dropTable('approvals').execute()
}
