// The embedded database's commit: the statements Kysely compiles (so the SQL stays the one PostgreSQL runs),
// prepared once and run synchronously in one BEGIN IMMEDIATE transaction per batch.
import { type Kysely, sql } from 'kysely'
import type SQLite from 'better-sqlite3'
import type { Database } from '../../db/schema.js'
import { CLEAR_PENDING, INDEX_PENDING } from '../search/sqlite-index.js'
import { type CommitBatch, createKyselyBackend, eventValues, inTransaction, type StoreBackend, upsertSession } from './backend.js'

export function createSqliteBackend (db: Kysely<Database>, sqlite: SQLite.Database): StoreBackend {
  const prepare = (query: { compile: () => { sql: string } }) => sqlite.prepare(query.compile().sql)
  const insert = prepare(db.insertInto('conversation_events').values({
    agent_key: 0, session_number: 0, seq: 0, event_type: '', content: null, metadata: null, created_at: '', line_uuid: null
  }))
  const upsert = prepare(upsertSession(db, {
    agent_key: 0,
    session_number: 0,
    first_seq: 0,
    last_seq: 0,
    started_at: '',
    ended_at: '',
    cost_usd: 0,
    input_tokens: 0,
    output_tokens: 0,
    cache_read_tokens: 0,
    cache_creation_tokens: 0
  }))
  const update = prepare(db.updateTable('agents').set({
    last_seq: 0, current_session: 0, cost_baseline_usd: null, info: null, last_seen_at: null, last_connected_at: null
  }).where('agent_key', '=', 0))

  const indexPending = sqlite.prepare(INDEX_PENDING)
  const clearPending = sqlite.prepare(CLEAR_PENDING)

  const statements = (batch: CommitBatch): number[] => {
    const ids = new Array<number>(batch.rows.length)
    for (let i = 0; i < batch.rows.length; i++) {
      const v = eventValues(batch.rows[i])
      ids[i] = Number(insert.run(v.agent_key, v.session_number, v.seq, v.event_type, v.content, v.metadata, v.created_at, v.line_uuid).lastInsertRowid)
    }
    for (const d of batch.sessions) {
      upsert.run(d.agent_key, d.session_number, d.first_seq, d.last_seq, d.started_at, d.ended_at, d.cost_usd,
        d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_creation_tokens)
    }
    for (const { key, update: u } of batch.agents) {
      update.run(u.last_seq, u.current_session, u.cost_baseline_usd, u.info, u.last_seen_at, u.last_connected_at, key)
    }
    if (batch.rows.length > 0) {
      indexPending.run()
      clearPending.run()
    }
    return ids
  }
  const write = sqlite.transaction(statements)

  // SQLite meets a full disk only when a commit writes the WAL (a rolled-back write may never leave the page
  // cache), so its probe commits: the rows inserted then deleted in the same transaction, the id sequence put
  // back, the sessions and agents left alone. The rows take a type the search index skips, so it sees nothing.
  const sequence = sqlite.prepare("select seq from sqlite_sequence where name = 'conversation_events'").pluck()
  const setSequence = sqlite.prepare("update sqlite_sequence set seq = ? where name = 'conversation_events'")
  const dropSequence = sqlite.prepare("delete from sqlite_sequence where name = 'conversation_events'")
  const remove = sqlite.prepare('delete from conversation_events where id = ?')
  const probe = sqlite.transaction((batch: CommitBatch) => {
    const before = sequence.get() as number | undefined
    const ids: Array<number | bigint> = []
    for (const r of batch.rows) {
      const v = eventValues({ ...r, event_type: 'activity_changed' })
      ids.push(insert.run(v.agent_key, v.session_number, v.seq, v.event_type, v.content, v.metadata, v.created_at, v.line_uuid).lastInsertRowid)
    }
    for (const id of ids) remove.run(id)
    // no row yet (nothing was ever stored): the probe's insert made it
    if (before === undefined) dropSequence.run()
    else setSequence.run(before)
  })

  return {
    ...createKyselyBackend(db),
    async commit (batch) {
      // IMMEDIATE takes the write lock first, so a busy database fails the batch before any work
      return write.immediate(batch)
    },
    async transaction (fn) {
      return await inTransaction(db, async (trx) => {
        const result = await fn(trx)
        await sql.raw(INDEX_PENDING).execute(trx)
        await sql.raw(CLEAR_PENDING).execute(trx)
        return result
      })
    },
    async probe (batch) {
      probe.immediate(batch)
    }
  }
}
