// The database connection: opened and migrated at start-up, destroyed last on close.
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type SQLite from 'better-sqlite3'
import pg from 'pg'
import { openDatabase, type Dialect } from '../db/connect.js'
import { migrateToLatest } from '../db/migrate.js'
import { startCheckpointer } from '../db/checkpointer.js'
import { within } from '../src/within.js'
import { createSqliteWriter, type SqliteWriter } from '../src/store/sqlite-writer/client.js'
import type { WriterSeams } from '../src/store/sqlite-writer/protocol.js'
import type { Database } from '../db/schema.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    dbDialect: Dialect
    /** The embedded SQLite main connection (reads; writes under the writer's hold), null on PostgreSQL. */
    sqlite: SQLite.Database | null
    /** The SQLite writer thread (src/store/sqlite-writer/), null on PostgreSQL. */
    sqliteWriter: SqliteWriter | null
  }
}

export interface DbOptions {
  /** Tests and benchmarks: seams of the SQLite writer thread. */
  writerSeams?: WriterSeams
}

/** How long closing waits for the pool's running queries before cancelling them, and then for the pool to end. */
const CLOSE_GRACE_MS = 1000

/** Cancels the running queries of this process's pool (its sessions carry `applicationName`) from a connection of its own. */
async function cancelQueries (url: string, applicationName: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CLOSE_GRACE_MS, query_timeout: CLOSE_GRACE_MS, application_name: 'agentlog-close' })
  client.on('error', () => {})
  await client.connect()
  try {
    await client.query("select pg_cancel_backend(pid) from pg_stat_activity where application_name = $1 and state <> 'idle'", [applicationName])
  } finally {
    await client.end()
  }
}

export default fp<DbOptions>(async function db (fastify, opts) {
  const applicationName = `agentlog-pool ${fastify.config.instanceId}`
  const { db, dialect, sqlite, setWriteGate } = openDatabase({ ...fastify.config, applicationName })
  let writer: SqliteWriter | null = null
  fastify.addHook('onClose', async () => {
    if (dialect === 'sqlite') {
      // the event store has flushed (its own onClose ran first): the thread ends, then the main connection
      await writer?.stop()
      setWriteGate(null)
      await db.destroy()
      return
    }
    // the pool ends once its queries have; one stuck on a lock (the writer during an outage, which shutdown gave up
    // on after WRITE_TIMEOUT_MS) is cancelled rather than waited for, and an unreachable server is not waited for
    const destroyed = db.destroy().catch(() => {})
    if (await within(destroyed, CLOSE_GRACE_MS)) return
    fastify.log.warn('database queries still running at close: cancelling them')
    await cancelQueries(fastify.config.databaseUrl as string, applicationName)
      .catch((err: unknown) => fastify.log.warn({ err }, 'could not cancel the running queries'))
    if (!await within(destroyed, CLOSE_GRACE_MS)) fastify.log.error('the database pool did not end; closing without it')
  })
  if (sqlite !== null) {
    // checkpoints run in a worker; the connection's own auto-checkpoint stays as a (rarely reached) safety net
    sqlite.pragma('wal_autocheckpoint = 100000')
    // small and frequent: a checkpoint copying a large WAL held commits back for tens of ms (the writer thread's
    // appends wait on the file system meanwhile); at 50 ms the longest commit stall measured went from ~50 to ~6 ms
    const checkpointer = startCheckpointer(fastify.config.databasePath, 50, (message) => {
      fastify.log.warn({ message }, 'WAL checkpoint failed; the writer checkpoints by itself past 100,000 pages')
    })
    fastify.addHook('onClose', async () => { await checkpointer.stop() })
  }
  const applied = await migrateToLatest(db, fastify.config.databaseUrl !== null ? fastify.config.databaseSchema : null)
  if (applied.length > 0) fastify.log.info({ applied }, 'database migrated')
  if (sqlite !== null) {
    // from here on the writer thread writes the log; the main connection writes only while it holds it
    writer = createSqliteWriter({
      databasePath: fastify.config.databasePath,
      busyTimeoutMs: fastify.config.sqliteBusyTimeoutMs,
      synchronous: fastify.config.sqliteSynchronous,
      reader: sqlite,
      onWarn: (message) => fastify.log.warn(message),
      seams: { commitDelayMs: fastify.config.benchCommitDelayMs, ...opts.writerSeams }
    })
    setWriteGate(writer)
  }
  fastify.decorate('sqliteWriter', writer)
  fastify.decorate('db', db)
  fastify.decorate('dbDialect', dialect)
  fastify.decorate('sqlite', sqlite)
}, { name: 'db', dependencies: ['config'] })
