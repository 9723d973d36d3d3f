// Full-text search over the log: an index keyed by the event id, written by triggers on the events table (so it
// commits with the events and retention removes from it too), and filled here for a database that has events.
//
// What is indexed: the stored (already redacted) content of output, thinking, tool_result, prompt_sent and result
// events, and for tool_use the tool name and its input (as JSON), at most 262,144 characters of it.
import { type Kysely, PostgresAdapter, type RawBuilder, sql } from 'kysely'

const TYPES = sql.raw("('output', 'thinking', 'tool_use', 'tool_result', 'prompt_sent', 'result')")
const MAX_CHARS = 262144

/**
 * A tool's input as JSON text with its escapes undone (\n, \t, \r, \", \\), so that "npm run\nmigrate" indexes
 * "migrate", not "nmigrate", and snippets read like the input.
 */
function unescape (json: RawBuilder<unknown>, chr: RawBuilder<unknown>): RawBuilder<unknown> {
  let x = sql`replace(${json}, '\\\\', ${chr}(1))`
  for (const [from, to] of [['n', 10], ['t', 9], ['r', 13], ['"', 34]] as const) x = sql`replace(${x}, ${sql.lit('\\' + from)}, ${chr}(${sql.lit(to)}))`
  return sql`replace(${x}, ${chr}(1), '\\')`
}

export async function up (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) await upPostgres(db)
  else await upSqlite(db)
}

async function upSqlite (db: Kysely<any>): Promise<void> {
  // the text of an event, in one place: the index reads it for snippets, the triggers for writes and deletes
  await sql`create view search_documents as
    select id, substr(case when event_type = 'tool_use'
        then content || coalesce(' ' || ${unescape(sql`json_extract(case when json_valid(metadata) then metadata end, '$.input')`, sql`char`)}, '')
        else content end, 1, ${sql.lit(MAX_CHARS)}) as body
    from conversation_events
    where event_type in ${TYPES} and content is not null`.execute(db)
  // unicode61 without diacritic folding, so a word matches the same words as on PostgreSQL; no per-row sizes
  // (columnsize = 0): they serve only bm25(), which search does not use, and cost a write per event
  await sql`create virtual table search_index using fts5(body, content = 'search_documents', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0', columnsize = 0)`.execute(db)
  await sql`create trigger search_index_insert after insert on conversation_events
    when new.event_type in ${TYPES} and new.content is not null
    begin
      insert into search_index (rowid, body) select id, body from search_documents where id = new.id;
    end`.execute(db)
  // before the delete, while the row (and so its indexed text) can still be read
  await sql`create trigger search_index_delete before delete on conversation_events
    when old.event_type in ${TYPES} and old.content is not null
    begin
      insert into search_index (search_index, rowid, body) select 'delete', id, body from search_documents where id = old.id;
    end`.execute(db)
  await sql`insert into search_index (search_index) values ('rebuild')`.execute(db)
}

async function upPostgres (db: Kysely<any>): Promise<void> {
  // ASCII punctuation becomes a space before PostgreSQL's parser sees the text, so that it cuts words as SQLite's
  // unicode61 does (it would otherwise keep URLs, paths, e-mail addresses and hyphenated words whole)
  await sql`create function search_text (event_type text, content text, metadata text) returns text
    language sql immutable parallel safe as $$
      select left(case when event_type = 'tool_use'
        then content || coalesce(' ' || ${unescape(sql`(metadata::jsonb ->> 'input')`, sql`chr`)}, '')
        else content end, ${sql.lit(MAX_CHARS)})
    $$`.execute(db)
  // one character for one, so that an excerpt of these words is at the same place in the original text
  await sql`create function search_words (text text) returns text
    language sql immutable parallel safe as $$
      select regexp_replace(text, '[\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f]', ' ', 'g')
    $$`.execute(db)
  await sql`create function search_vector (event_type text, content text, metadata text) returns tsvector
    language sql immutable parallel safe as $$
      select to_tsvector('simple', search_words(search_text(event_type, content, metadata)))
    $$`.execute(db)
  await sql`create table search_documents (id bigint primary key, document tsvector not null)`.execute(db)
  // statement-level triggers: one insert into the index per batch insert of events, not one per row
  await sql`create function search_documents_insert () returns trigger language plpgsql as $$
    begin
      insert into search_documents (id, document)
        select id, search_vector(event_type, content, metadata) from inserted_events
        where event_type in ${TYPES} and content is not null;
      return null;
    end $$`.execute(db)
  await sql`create function search_documents_delete () returns trigger language plpgsql as $$
    begin
      delete from search_documents s using deleted_events d where s.id = d.id;
      return null;
    end $$`.execute(db)
  await sql`create trigger search_documents_insert after insert on conversation_events
    referencing new table as inserted_events for each statement execute function search_documents_insert()`.execute(db)
  await sql`create trigger search_documents_delete after delete on conversation_events
    referencing old table as deleted_events for each statement execute function search_documents_delete()`.execute(db)
  await sql`insert into search_documents (id, document)
    select id, search_vector(event_type, content, metadata) from conversation_events
    where event_type in ${TYPES} and content is not null`.execute(db)
  // a search reads the whole list of entries not yet merged into the index: keep it short (default 4 MB)
  await sql`create index search_documents_document on search_documents using gin (document)
    with (gin_pending_list_limit = 512)`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`drop trigger search_documents_insert on conversation_events`.execute(db)
    await sql`drop trigger search_documents_delete on conversation_events`.execute(db)
    await sql`drop table search_documents`.execute(db)
    await sql`drop function search_documents_insert, search_documents_delete, search_vector, search_words, search_text`.execute(db)
  } else {
    await sql`drop trigger search_index_insert`.execute(db)
    await sql`drop trigger search_index_delete`.execute(db)
    await sql`drop table search_index`.execute(db)
    await sql`drop view search_documents`.execute(db)
  }
}
