// The event store plugin: wires the write path in src/store/ to the app's database, config and log.
import fp from 'fastify-plugin'
import { createEventStore, type EventStore } from '../src/store/event-store.js'
import { createPostgresBackend } from '../src/store/postgres-backend.js'
import { createSqliteBackend } from '../src/store/sqlite-backend.js'

declare module 'fastify' {
  interface FastifyInstance { events: EventStore }
}

export default fp(async function eventStore (fastify) {
  // several instances on PostgreSQL fence and announce each write transaction (src/cluster/)
  const hooks = fastify.cluster?.writeHooks ?? null
  const writer = fastify.sqliteWriter
  const backend = writer === null ? createPostgresBackend(fastify.db, hooks) : createSqliteBackend(fastify.db, writer)
  // SQLite: the writer thread waits inside each transaction itself (its seams)
  const store = createEventStore(backend, fastify.config, fastify.log, { commitDelayMs: writer === null ? fastify.config.benchCommitDelayMs : 0 }, hooks)
  fastify.decorate('events', store)
  fastify.addHook('onClose', async () => { await store.close() })
}, { name: 'event-store', dependencies: ['config', 'db', 'cluster'] })
