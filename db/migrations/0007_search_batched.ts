// The embedded database's full-text index, written once per transaction instead of once per event.
//
// An FTS5 insert made by a per-row trigger runs in a statement savepoint of its own, and FTS5 writes its pending
// terms to disk at every savepoint: each event became a segment of its own, merged again and again (measured:
// the index cost the write path ~70 µs an event that way, ~17 µs when the same events are indexed by one
// statement). So the trigger now only notes the event's id in search_pending, and the writer indexes what is
// noted with one statement before each of its transactions commits (src/search/sqlite-index.ts).
// PostgreSQL's statement-level trigger already indexes a whole insert at once: nothing changes there.
import { type Kysely, PostgresAdapter, sql } from 'kysely'

const TYPES = sql.raw("('output', 'thinking', 'tool_use', 'tool_result', 'prompt_sent', 'result')")

export async function up (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return
  await sql`create table search_pending (id integer primary key)`.execute(db)
  await sql`drop trigger search_index_insert`.execute(db)
  await sql`create trigger search_pending_insert after insert on conversation_events
    when new.event_type in ${TYPES} and new.content is not null
    begin
      insert into search_pending (id) values (new.id);
    end`.execute(db)
  // an event deleted before its transaction indexed it is only taken off the list: FTS5 must never be told to
  // delete what it does not hold
  await sql`drop trigger search_index_delete`.execute(db)
  await sql`create trigger search_index_delete before delete on conversation_events
    when old.event_type in ${TYPES} and old.content is not null
    begin
      insert into search_index (search_index, rowid, body) select 'delete', id, body from search_documents
        where id = old.id and not exists (select 1 from search_pending where id = old.id);
      delete from search_pending where id = old.id;
    end`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return
  await sql`insert into search_index (rowid, body) select id, body from search_documents
    where id in (select id from search_pending)`.execute(db)
  await sql`drop trigger search_pending_insert`.execute(db)
  await sql`drop trigger search_index_delete`.execute(db)
  await sql`drop table search_pending`.execute(db)
  await sql`create trigger search_index_insert after insert on conversation_events
    when new.event_type in ${TYPES} and new.content is not null
    begin
      insert into search_index (rowid, body) select id, body from search_documents where id = new.id;
    end`.execute(db)
  await sql`create trigger search_index_delete before delete on conversation_events
    when old.event_type in ${TYPES} and old.content is not null
    begin
      insert into search_index (search_index, rowid, body) select 'delete', id, body from search_documents where id = old.id;
    end`.execute(db)
}
