// The physical limit of a durable append on this machine, on the same rows the app stores (bench/common.ts
// benchRows): SQLite through better-sqlite3 alone, and PostgreSQL through pg alone (UNNEST arrays, one statement a
// batch), each into a table with only the keys the API needs, in batches of 2000, after a history of the same depth.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import { benchRows, type BenchRow } from './common.js'

const BATCH = 2000

/** Rows per second appended by `agents` agents into SQLite, each holding `seeded / agents` rows already. */
export async function bareAppend (dir: string, rows: number, seeded: number, agents: number): Promise<number> {
  const path = join(dir, 'bare.db')
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  const db = new SQLite(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`create table bare (id integer primary key, agent integer not null, seq integer not null, session integer not null,
    type text not null, content text, metadata text, created_at text not null, line_uuid text)`)
  db.exec('create unique index bare_agent_seq on bare (agent, seq)')
  const insert = db.prepare('insert into bare (agent, seq, session, type, content, metadata, created_at, line_uuid) values (?, ?, 0, ?, ?, ?, ?, ?)')
  const fill = db.transaction((list: BenchRow[]) => {
    for (const r of list) insert.run(r.agent, r.seq, r.type, r.content, r.metadata, r.createdAt, r.lineUuid)
  })
  // the history: written in large slices, outside the measurement (seqs stay unique per agent: each slice starts
  // above everything written before it)
  for (let done = 0; done < seeded; done += 50000) fill(await benchRows(Math.min(50000, seeded - done), agents, done))
  const measured = await benchRows(rows, agents, seeded + 1)
  const started = performance.now()
  for (let i = 0; i < measured.length; i += BATCH) fill(measured.slice(i, i + BATCH))
  const rate = measured.length / ((performance.now() - started) / 1000)
  db.close()
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  return rate
}

/** Rows per second appended into PostgreSQL (a schema of its own, dropped after), one statement per batch. */
export async function bareAppendPostgres (url: string, rows: number, agents: number): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const schema = `agentlog_bare_${Date.now()}`
  try {
    await client.query(`create schema ${schema}`)
    await client.query(`set search_path to ${schema}`)
    await client.query(`create table bare (id bigserial primary key, agent integer not null, seq integer not null,
      session integer not null, type text not null, content text, metadata text, created_at text not null, line_uuid text)`)
    await client.query('create unique index bare_agent_seq on bare (agent, seq)')
    const measured = await benchRows(rows, agents)
    const started = performance.now()
    for (let i = 0; i < measured.length; i += BATCH) {
      const list = measured.slice(i, i + BATCH)
      await client.query(`insert into bare (agent, seq, session, type, content, metadata, created_at, line_uuid)
        select a, s, 0, t, c, m, at, u from unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
        as x (a, s, t, c, m, at, u) returning id`,
      [list.map(r => r.agent), list.map(r => r.seq), list.map(r => r.type), list.map(r => r.content), list.map(r => r.metadata),
        list.map(r => r.createdAt), list.map(r => r.lineUuid)])
    }
    return measured.length / ((performance.now() - started) / 1000)
  } finally {
    await client.query(`drop schema if exists ${schema} cascade`).catch(() => {})
    await client.end()
  }
}
