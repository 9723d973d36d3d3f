// Where each imported transcript file stands: how far it was read, which session its records went to, and its
// cumulative cost so far. Kept on the server so an importer that restarts, or one on another machine, resumes.
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('transcript_files')
    .addColumn('agent_id', 'text', col => col.notNull())
    .addColumn('file', 'text', col => col.notNull())
    .addColumn('claude_session_id', 'text')
    .addColumn('session_number', 'integer')
    .addColumn('byte_offset', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('lines', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('cost_usd', 'double precision', col => col.notNull().defaultTo(0))
    .addColumn('input_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('output_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('cache_read_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('cache_creation_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('updated_at', 'text', col => col.notNull())
    .addPrimaryKeyConstraint('transcript_files_pk', ['agent_id', 'file'])
    .execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('transcript_files').execute()
}
