// Streams an agent's log as NDJSON: one event a line (in seq order), then one line per session with its totals,
// then an end line. Everything comes from one read snapshot, so the file is consistent while writes continue;
// rows are read in pages and written as the client takes them, so memory stays bounded whatever the log's size.
//
// Lines (the format `POST /agents/:id/import?format=agentlog` takes back):
//   {"agent_id","session_number","seq","event_type","content","metadata","created_at"}   an event (no `id`: that
//                                                                                          is a position on one server)
//   {"type":"session","session_number","first_seq","last_seq","started_at","ended_at","cost_usd",
//    "input_tokens","output_tokens","cache_read_tokens","cache_creation_tokens"}
//   {"type":"end","agent_id","current_session","last_seq","events","info"}                  last line: the file is whole
import { Readable } from 'node:stream'
import SQLite from 'better-sqlite3'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { ExportQueryType } from '../schemas/transcripts.js'
import { type EventColumns, rowJson } from '../store/event-rows.js'

const PAGE = 1000

interface SessionTuple {
  session_number: number
  first_seq: number
  last_seq: number
  started_at: string
  ended_at: string
  cost_usd: number
  input_tokens: number | bigint
  output_tokens: number | bigint
  cache_read_tokens: number | bigint
  cache_creation_tokens: number | bigint
}

interface AgentTuple {
  current_session: number
  last_seq: number
  info: string | null
}

/** A stored event as an export line: the event without its id. */
function eventLine (agentId: string, r: EventColumns): string {
  return rowJson(r, JSON.stringify(agentId), null) + '\n'
}

function sessionLine (s: SessionTuple): string {
  return JSON.stringify({
    type: 'session',
    session_number: s.session_number,
    first_seq: Number(s.first_seq),
    last_seq: Number(s.last_seq),
    started_at: s.started_at,
    ended_at: s.ended_at,
    cost_usd: Number(s.cost_usd),
    input_tokens: Number(s.input_tokens),
    output_tokens: Number(s.output_tokens),
    cache_read_tokens: Number(s.cache_read_tokens),
    cache_creation_tokens: Number(s.cache_creation_tokens)
  }) + '\n'
}

function endLine (agentId: string, agent: AgentTuple, events: number): string {
  return `{"type":"end","agent_id":${JSON.stringify(agentId)},"current_session":${agent.current_session},` +
    `"last_seq":${Number(agent.last_seq)},"events":${events},"info":${agent.info ?? 'null'}}\n`
}

/**
 * The embedded database: a read-only connection of its own (WAL readers see one snapshot per transaction and never
 * wait for the writer), iterated a page at a time. Null when the agent is not known.
 */
function sqliteExport (databasePath: string, agentId: string, filter: ExportQueryType): Readable | null {
  const conn = new SQLite(databasePath, { readonly: true, fileMustExist: true })
  let open = true
  const finish = (): void => {
    if (!open) return
    open = false
    try { if (conn.inTransaction) conn.exec('COMMIT') } finally { conn.close() }
  }
  try {
    conn.exec('BEGIN')
    const agent = conn.prepare('select agent_key, current_session, last_seq, info from agents where agent_id = ?').get(agentId) as (AgentTuple & { agent_key: number }) | undefined
    if (agent === undefined) { finish(); return null }
    const sessionWhere = filter.session === undefined ? '' : ' and session_number = ?'
    const sessionArgs: unknown[] = filter.session === undefined ? [agent.agent_key] : [agent.agent_key, filter.session]
    const sessions = conn.prepare(`select session_number, first_seq, last_seq, started_at, ended_at, cost_usd, input_tokens, output_tokens,
      cache_read_tokens, cache_creation_tokens from sessions where agent_key = ?${sessionWhere} and last_seq > ? order by session_number`)
      .all(...sessionArgs, filter.after ?? 0) as SessionTuple[]
    const rows = conn.prepare(`select session_number, seq, event_type, content, metadata, created_at from conversation_events
      where agent_key = ?${sessionWhere} and seq > ? order by seq`).iterate(...sessionArgs, filter.after ?? 0) as IterableIterator<EventColumns>
    let count = 0
    let done = false
    const stream = new Readable({
      read () {
        try {
          if (done) return
          let text = ''
          for (let i = 0; i < PAGE; i++) {
            const next = rows.next()
            if (next.done === true) {
              done = true
              for (const s of sessions) text += sessionLine(s)
              text += endLine(agentId, agent, count)
              break
            }
            count++
            text += eventLine(agentId, next.value)
          }
          if (done) finish()
          this.push(text)
          if (done) this.push(null)
        } catch (err) {
          this.destroy(err as Error)
        }
      },
      destroy (err, cb) {
        try {
          rows.return?.()
          finish()
        } catch {}
        cb(err)
      }
    })
    return stream
  } catch (err) {
    finish()
    throw err
  }
}

/** PostgreSQL: one repeatable-read, read-only transaction (one snapshot), keyset pages by seq. */
async function postgresExport (db: Kysely<Database>, agentId: string, filter: ExportQueryType): Promise<Readable | null> {
  const trx = await db.startTransaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute()
  let open = true
  const finish = async (commit: boolean): Promise<void> => {
    if (!open) return
    open = false
    await (commit ? trx.commit() : trx.rollback()).execute()
  }
  try {
    const agent = await trx.selectFrom('agents').select(['agent_key', 'current_session', 'last_seq', 'info']).where('agent_id', '=', agentId).executeTakeFirst()
    if (agent === undefined) { await finish(true); return null }
    const key = Number(agent.agent_key)
    let sq = trx.selectFrom('sessions').selectAll().where('agent_key', '=', key).where('last_seq', '>', filter.after ?? 0)
    if (filter.session !== undefined) sq = sq.where('session_number', '=', filter.session)
    const sessions = await sq.orderBy('session_number').execute()
    async function * lines (): AsyncGenerator<string> {
      let after = filter.after ?? 0
      let count = 0
      try {
        for (;;) {
          let q = trx.selectFrom('conversation_events').select(['session_number', 'seq', 'event_type', 'content', 'metadata', 'created_at'])
            .where('agent_key', '=', key).where('seq', '>', after)
          if (filter.session !== undefined) q = q.where('session_number', '=', filter.session)
          const rows = await q.orderBy('seq').limit(PAGE).execute()
          let text = ''
          for (const r of rows) text += eventLine(agentId, r)
          count += rows.length
          if (rows.length < PAGE) {
            for (const s of sessions) text += sessionLine(s)
            text += endLine(agentId, agent as AgentTuple, count)
            yield text
            break
          }
          after = rows[rows.length - 1].seq
          yield text
        }
        await finish(true)
      } finally {
        await finish(false).catch(() => {})
      }
    }
    return Readable.from(lines(), { objectMode: false, highWaterMark: 1 })
  } catch (err) {
    await finish(false).catch(() => {})
    throw err
  }
}

export async function exportAgent (db: Kysely<Database>, sqlitePath: string | null, agentId: string, filter: ExportQueryType): Promise<Readable | null> {
  return sqlitePath !== null ? sqliteExport(sqlitePath, agentId, filter) : await postgresExport(db, agentId, filter)
}
