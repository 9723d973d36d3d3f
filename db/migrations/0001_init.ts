// The initial schema: agents, their append-only event log, per-session totals and the re-send dedupe keys.
import { type Kysely, PostgresAdapter, sql } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter

  await db.schema.createTable('agents')
    .addColumn('agent_id', 'text', col => col.primaryKey())
    .addColumn('current_session', 'integer', col => col.notNull().defaultTo(0))
    .addColumn('last_seq', 'integer', col => col.notNull().defaultTo(0))
    .addColumn('created_at', 'text', col => col.notNull())
    .addColumn('last_connected_at', 'text')
    .addColumn('last_seen_at', 'text')
    .addColumn('info', 'text')
    .addColumn('cost_baseline_usd', 'double precision')
    .execute()

  let events = db.schema.createTable('conversation_events')
  events = postgres
    ? events.addColumn('id', 'bigserial', col => col.primaryKey())
    : events.addColumn('id', 'integer', col => col.primaryKey().autoIncrement())
  await events
    .addColumn('agent_id', 'text', col => col.notNull())
    .addColumn('session_number', 'integer', col => col.notNull())
    .addColumn('seq', 'integer', col => col.notNull())
    .addColumn('event_type', 'text', col => col.notNull())
    .addColumn('content', 'text')
    .addColumn('metadata', 'text')
    .addColumn('created_at', 'text', col => col.notNull())
    .addUniqueConstraint('conversation_events_agent_seq', ['agent_id', 'seq'])
    .execute()
  await db.schema.createIndex('conversation_events_agent_session_seq')
    .on('conversation_events').columns(['agent_id', 'session_number', 'seq']).execute()
  await db.schema.createIndex('conversation_events_agent_type_seq')
    .on('conversation_events').columns(['agent_id', 'event_type', 'seq']).execute()

  await db.schema.createTable('sessions')
    .addColumn('agent_id', 'text', col => col.notNull())
    .addColumn('session_number', 'integer', col => col.notNull())
    .addColumn('first_seq', 'integer', col => col.notNull())
    .addColumn('last_seq', 'integer', col => col.notNull())
    .addColumn('started_at', 'text', col => col.notNull())
    .addColumn('ended_at', 'text', col => col.notNull())
    .addColumn('cost_usd', 'double precision', col => col.notNull().defaultTo(0))
    .addColumn('input_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('output_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('cache_read_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('cache_creation_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('sessions_pk', ['agent_id', 'session_number'])
    .execute()

  const lines = db.schema.createTable('agent_lines')
    .addColumn('agent_id', 'text', col => col.notNull())
    .addColumn('uuid', 'text', col => col.notNull())
    .addColumn('seq', 'integer', col => col.notNull())
    .addPrimaryKeyConstraint('agent_lines_pk', ['agent_id', 'uuid'])
  // SQLite: the key is the table (one B-tree fewer to update per line)
  await (postgres ? lines : lines.modifyEnd(sql`without rowid`)).execute()
  await db.schema.createIndex('agent_lines_agent_seq')
    .on('agent_lines').columns(['agent_id', 'seq']).execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('agent_lines').execute()
  await db.schema.dropTable('sessions').execute()
  await db.schema.dropTable('conversation_events').execute()
  await db.schema.dropTable('agents').execute()
}
