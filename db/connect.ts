// Opens the configured database (embedded SQLite by default, PostgreSQL when DATABASE_URL is set) as a Kysely instance.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Database } from './schema.js'
import { GatedSqliteDialect, type WriteGate } from './sqlite-dialect.js'

export interface DatabaseOptions {
  databasePath: string
  databaseUrl: string | null
  /** PostgreSQL only: the schema to create and work in (tests use one each). */
  databaseSchema?: string | null
  sqliteSynchronous?: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA'
  /** PostgreSQL only: how the pool's sessions are named in pg_stat_activity. */
  applicationName?: string
  /** better-sqlite3 is synchronous: a wait for a lock blocks the event loop for up to this long. */
  sqliteBusyTimeoutMs?: number
}

export type Dialect = 'sqlite' | 'postgres'

export interface DatabaseHandle {
  db: Kysely<Database>
  dialect: Dialect
  /** The embedded database's main connection (null on PostgreSQL): reads, and writes under the writer thread's hold. */
  sqlite: SQLite.Database | null
  /** SQLite: from now on, every write of the main connection is taken under this gate (see db/sqlite-dialect.ts). */
  setWriteGate: (gate: WriteGate | null) => void
}

// int8 (bigint, count(*), sum of bigint) arrives as a string by default; our values fit a double.
pg.types.setTypeParser(20, (value: string) => Number(value))
pg.types.setTypeParser(1700, (value: string) => Number(value))

export function openDatabase (options: DatabaseOptions): DatabaseHandle {
  if (options.databaseUrl !== null) {
    const schema = options.databaseSchema ?? null
    if (schema !== null && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('invalid schema name')
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: 10,
      application_name: options.applicationName,
      // set as the session starts (no query of its own); the schema itself is created by the migration step
      ...(schema !== null ? { options: `-c search_path=${schema}` } : {})
    })
    // an idle connection the server ended (restart, pg_terminate_backend) is dropped and replaced on demand;
    // without a listener its error would end the process
    pool.on('error', () => {})
    // the same for a connection in use (a transaction, a query): the query fails and says so, but the client's
    // own 'error' event, with no listener while it is checked out, would end the process
    pool.on('connect', (client) => { client.on('error', () => {}) })
    return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: 'postgres', sqlite: null, setWriteGate: () => {} }
  }
  mkdirSync(dirname(options.databasePath), { recursive: true })
  const sqlite = new SQLite(options.databasePath)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma(`synchronous = ${options.sqliteSynchronous ?? 'NORMAL'}`)
  sqlite.pragma(`busy_timeout = ${options.sqliteBusyTimeoutMs ?? 5000}`)
  // reads of the history and search come through here: a page cache of 32 MiB
  sqlite.pragma('cache_size = -32768')
  let gate: WriteGate | null = null
  return {
    db: new Kysely<Database>({ dialect: new GatedSqliteDialect(sqlite, () => gate) }),
    dialect: 'sqlite',
    sqlite,
    setWriteGate: (next) => { gate = next }
  }
}
