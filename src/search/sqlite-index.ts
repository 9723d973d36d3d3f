// The embedded database's full-text index follows the log (migration 0008): search_state.indexed_through is the
// newest event id it holds, and everything after it is indexed by id range, in transactions of the writer thread's
// own (src/store/sqlite-writer/thread.ts). The statements, in one place for the writer and the bench's seeding.
import type SQLite from 'better-sqlite3'

/** Indexes the events with ids in (?, ?] that are searchable (the search_documents view picks them). */
export const INDEX_RANGE = 'insert into search_index (rowid, body) select id, body from search_documents where id > ? and id <= ?'
export const MARK_INDEXED = 'update search_state set indexed_through = ?'
export const INDEXED_THROUGH = 'select indexed_through from search_state'
/** The newest event id ever given (ids are never reused). */
export const NEWEST_EVENT_ID = "select seq from sqlite_sequence where name = 'conversation_events'"

/** Indexes everything the index lacks, in the caller's transaction (seeding a database outside the app). */
export function indexAll (db: SQLite.Database): void {
  const from = db.prepare(INDEXED_THROUGH).pluck().get() as number
  const to = (db.prepare(NEWEST_EVENT_ID).pluck().get() as number | undefined) ?? 0
  if (to <= from) return
  db.prepare(INDEX_RANGE).run(from, to)
  db.prepare(MARK_INDEXED).run(to)
}
