// The embedded database's full-text index follows the log instead of committing with it: events commit first, and
// the writer thread indexes everything after search_state.indexed_through in transactions of its own (see
// src/store/sqlite-writer/), so indexing costs the commit nothing and runs in slices large enough to be cheap. The
// insert trigger and its search_pending list go; retention still takes deleted events out of the index, for the
// events the index holds. PostgreSQL keeps indexing with each insert (its trigger works a statement at a time).
import { type Kysely, PostgresAdapter, sql } from 'kysely'

const TYPES = sql.raw("('output', 'thinking', 'tool_use', 'tool_result', 'prompt_sent', 'result')")

export async function up (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return
  // nothing is noted at rest (each transaction emptied the list), but a list left by a crash is indexed now
  await sql`insert into search_index (rowid, body) select id, body from search_documents
    where id in (select id from search_pending)`.execute(db)
  await sql`drop trigger search_pending_insert`.execute(db)
  await sql`drop trigger search_index_delete`.execute(db)
  await sql`drop table search_pending`.execute(db)
  await sql`create table search_state (indexed_through integer not null)`.execute(db)
  await sql`insert into search_state (indexed_through)
    values (coalesce((select seq from sqlite_sequence where name = 'conversation_events'), 0))`.execute(db)
  // FTS5 must never be told to delete what it does not hold: only events up to the watermark are in the index
  await sql`create trigger search_index_delete before delete on conversation_events
    when old.event_type in ${TYPES} and old.content is not null and old.id <= (select indexed_through from search_state)
    begin
      insert into search_index (search_index, rowid, body) select 'delete', id, body from search_documents where id = old.id;
    end`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return
  await sql`insert into search_index (rowid, body) select id, body from search_documents
    where id > (select indexed_through from search_state)`.execute(db)
  await sql`drop trigger search_index_delete`.execute(db)
  await sql`drop table search_state`.execute(db)
  await sql`create table search_pending (id integer primary key)`.execute(db)
  await sql`create trigger search_pending_insert after insert on conversation_events
    when new.event_type in ${TYPES} and new.content is not null
    begin
      insert into search_pending (id) values (new.id);
    end`.execute(db)
  await sql`create trigger search_index_delete before delete on conversation_events
    when old.event_type in ${TYPES} and old.content is not null
    begin
      insert into search_index (search_index, rowid, body) select 'delete', id, body from search_documents
        where id = old.id and not exists (select 1 from search_pending where id = old.id);
      delete from search_pending where id = old.id;
    end`.execute(db)
}
