// The embedded database's full-text index is written once per transaction: the insert trigger notes each
// indexable event's id in search_pending (migration 0007), and every write transaction that adds events ends
// with these two statements, so the index commits with the events it covers.

/** Indexes every event noted since the last flush, in one FTS5 statement. */
export const INDEX_PENDING = 'insert into search_index (rowid, body) select id, body from search_documents ' +
  'where id in (select id from search_pending)'

export const CLEAR_PENDING = 'delete from search_pending'
