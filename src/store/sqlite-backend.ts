// The embedded database's commit: the statements Kysely compiles (so the SQL stays the one PostgreSQL runs),
// prepared once and run synchronously in one BEGIN IMMEDIATE transaction per batch.
import { type Kysely, sql } from 'kysely'
import type SQLite from 'better-sqlite3'
import type { Database } from '../../db/schema.js'
import { CLEAR_PENDING, INDEX_PENDING } from '../search/sqlite-index.js'
import { type CommitBatch, createKyselyBackend, eventValues, inTransaction, ROLL_BACK, rolledBack, type StoreBackend, upsertSession } from './backend.js'

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
  const probe = sqlite.transaction((batch: CommitBatch) => {
    statements(batch)
    throw ROLL_BACK
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
      await rolledBack(() => probe.immediate(batch))
    }
  }
}
