// The database connection: opened and migrated at start-up, destroyed last on close.
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type SQLite from 'better-sqlite3'
import { openDatabase, type Dialect } from '../db/connect.js'
import { migrateToLatest } from '../db/migrate.js'
import { startCheckpointer } from '../db/checkpointer.js'
import type { Database } from '../db/schema.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    dbDialect: Dialect
    /** The embedded SQLite handle, null on PostgreSQL. */
    sqlite: SQLite.Database | null
  }
}

export default fp(async function db (fastify) {
  const { db, dialect, sqlite } = openDatabase({ ...fastify.config, applicationName: `agentlog-pool ${fastify.config.instanceId}` })
  fastify.addHook('onClose', async () => { await db.destroy() })
  if (sqlite !== null) {
    // checkpoints run in a worker; the connection's own auto-checkpoint stays as a (rarely reached) safety net
    sqlite.pragma('wal_autocheckpoint = 100000')
    const checkpointer = startCheckpointer(fastify.config.databasePath, 200, (message) => {
      fastify.log.warn({ message }, 'WAL checkpoint failed; the writer checkpoints by itself past 100,000 pages')
    })
    fastify.addHook('onClose', async () => { await checkpointer.stop() })
  }
  const applied = await migrateToLatest(db, fastify.config.databaseUrl !== null ? fastify.config.databaseSchema : null)
  if (applied.length > 0) fastify.log.info({ applied }, 'database migrated')
  fastify.decorate('db', db)
  fastify.decorate('dbDialect', dialect)
  fastify.decorate('sqlite', sqlite)
}, { name: 'db', dependencies: ['config'] })
