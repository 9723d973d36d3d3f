// PostgreSQL's full-text index follows the log too (as SQLite's does since 0008): the insert trigger, which computed
// every event's tsvector inside its commit (about 60% of what a commit cost PostgreSQL), goes; the events after
// search_state.indexed_through are indexed in transactions of their own (src/search/postgres-index.ts). Retention
// still takes deleted events out of the index through the delete trigger.
import { type Kysely, PostgresAdapter, sql } from 'kysely'

const TYPES = sql.raw("('output', 'thinking', 'tool_use', 'tool_result', 'prompt_sent', 'result')")

export async function up (db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return
  await sql`drop trigger search_documents_insert on conversation_events`.execute(db)
  await sql`drop function search_documents_insert`.execute(db)
  await sql`create table search_state (indexed_through bigint not null)`.execute(db)
  await sql`insert into search_state (indexed_through) select coalesce(max(id), 0) from conversation_events`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return
  await sql`insert into search_documents (id, document)
    select id, search_vector(event_type, content, metadata) from conversation_events
    where id > (select indexed_through from search_state) and event_type in ${TYPES} and content is not null
    on conflict (id) do nothing`.execute(db)
  await sql`drop table search_state`.execute(db)
  await sql`create function search_documents_insert () returns trigger language plpgsql as $$
    begin
      insert into search_documents (id, document)
        select id, search_vector(event_type, content, metadata) from inserted_events
        where event_type in ${TYPES} and content is not null;
      return null;
    end $$`.execute(db)
  await sql`create trigger search_documents_insert after insert on conversation_events
    referencing new table as inserted_events for each statement execute function search_documents_insert()`.execute(db)
}
