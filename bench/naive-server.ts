// Benchmark child, the naive baseline: a bare ws server that maps each line like the app and inserts every event
// with its own autocommit INSERT (better-sqlite3 prepared statement, same schema and pragmas as db/connect.ts).
import SQLite from 'better-sqlite3'
import { WebSocketServer, type RawData } from 'ws'
import { Kysely, SqliteDialect } from 'kysely'
import { migrateToLatest } from '../db/migrate.js'
import { parseFrame } from '../src/protocol/ndjson.js'
import { assistantEvents, resultEvent, userEvents, type EventDraft } from '../src/protocol/messages.js'
import { serveRequests } from './common.js'

const path = process.env.DATABASE_PATH ?? ''
if (path === '') throw new Error('DATABASE_PATH is required')
const migrator = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(path) }) })
await migrateToLatest(migrator)
await migrator.destroy()

const sqlite = new SQLite(path)
sqlite.pragma('journal_mode = WAL')
sqlite.pragma('synchronous = NORMAL')
const insert = sqlite.prepare(`insert into conversation_events
  (agent_key, session_number, seq, event_type, content, metadata, created_at) values (?, ?, ?, ?, ?, ?, ?)`)
let agentKeys = 0

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 16 * 1024 * 1024 })
let inserted = 0
let maxRss = 0

wss.on('connection', (socket, request) => {
  const agentKey = ++agentKeys
  let seq = 0
  socket.on('message', (data: RawData) => {
    for (const line of parseFrame(data.toString())) {
      if (!line.ok) continue
      const m = line.message
      let drafts: EventDraft[] = []
      if (m.type === 'assistant') drafts = assistantEvents(m, 256 * 1024)
      else if (m.type === 'user') drafts = userEvents(m, 256 * 1024)
      else if (m.type === 'result') drafts = [resultEvent(m, 256 * 1024), { event_type: 'activity_changed', content: null, metadata: { state: 'idle' } }]
      const at = new Date().toISOString()
      for (const e of drafts) {
        insert.run(agentKey, 0, ++seq, e.event_type, e.content, e.metadata === null ? null : JSON.stringify(e.metadata), at)
        inserted++
      }
    }
  })
})
await new Promise<void>(resolve => wss.once('listening', () => resolve()))

serveRequests({
  stats () {
    const rss = process.memoryUsage.rss()
    if (rss > maxRss) maxRss = rss
    return { t: Date.now(), committed: inserted, rss, maxRss }
  },
  storedEvents: () => (sqlite.prepare('select count(*) as n from conversation_events').get() as { n: number }).n
}, async () => {
  for (const c of wss.clients) c.terminate()
  await new Promise<void>(resolve => wss.close(() => resolve()))
  sqlite.close()
})

process.send?.({ type: 'ready', port: (wss.address() as { port: number }).port })
