// The physical limit of a durable append on this machine: better-sqlite3 alone inserting rows already built (the
// size of a typical stored event) into a table with only the keys the API needs, in batches of 2000, after a
// history of the same depth as the run it is compared with.
import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'

/** Rows per second appended by `agents` agents, each holding `seeded / agents` rows already. */
export function bareAppend (dir: string, rows: number, seeded: number, agents: number): number {
  const path = join(dir, 'bare.db')
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  const db = new SQLite(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`create table bare (id integer primary key, agent integer not null, seq integer not null, session integer not null,
    type text not null, content text, metadata text, created_at text not null, line_uuid text)`)
  db.exec('create unique index bare_agent_seq on bare (agent, seq)')
  const insert = db.prepare('insert into bare (agent, seq, session, type, content, metadata, created_at, line_uuid) values (?, ?, 0, ?, ?, ?, ?, ?)')
  const content = 'x'.repeat(300)
  const meta = JSON.stringify({ uuid: randomUUID(), message_id: 'msg_1', model: 'claude-sonnet-4-6' })
  const fill = db.transaction((from: number, to: number, base: number) => {
    for (let i = from; i < to; i++) insert.run(i % agents, base + Math.floor(i / agents), 'output', content, meta, '2026-01-01T00:00:00.000Z', randomUUID())
  })
  for (let i = 0; i < seeded; i += 50000) fill(i, Math.min(seeded, i + 50000), 1)
  const base = Math.ceil(seeded / agents) + 1
  const started = performance.now()
  for (let i = 0; i < rows; i += 2000) fill(i, Math.min(rows, i + 2000), base)
  const rate = rows / ((performance.now() - started) / 1000)
  db.close()
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  return rate
}
