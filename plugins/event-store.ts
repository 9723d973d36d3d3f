// The event store plugin: wires the write path in src/store/ to the app's database, config and log.
import fp from 'fastify-plugin'
import { createEventStore, type EventStore } from '../src/store/event-store.js'
import { createKyselyBackend } from '../src/store/backend.js'
import { createSqliteBackend } from '../src/store/sqlite-backend.js'

export type {
  AgentState, ClearOutcome, CommitListener, BatchListener, EventStore, ExclusiveAgent, ExclusiveResult, ExclusiveRun, StoredEvent
} from '../src/store/event-store.js'

declare module 'fastify' {
  interface FastifyInstance { events: EventStore }
}

export default fp(async function eventStore (fastify) {
  const backend = fastify.sqlite === null ? createKyselyBackend(fastify.db) : createSqliteBackend(fastify.db, fastify.sqlite)
  const store = createEventStore(backend, fastify.config, fastify.log, { commitDelayMs: fastify.config.benchCommitDelayMs })
  fastify.decorate('events', store)
  fastify.addHook('onClose', async () => { await store.close() })
}, { name: 'event-store', dependencies: ['config', 'db'] })
