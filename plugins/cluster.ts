// Several instances on one PostgreSQL (only with DATABASE_URL): agent ownership, hand-over, commit notices and
// forwarded commands (see src/cluster/). `fastify.cluster` is null on SQLite, the one-process default.
import fp from 'fastify-plugin'
import { createCluster, type Cluster } from '../src/cluster/cluster.js'

declare module 'fastify' {
  interface FastifyInstance { cluster: Cluster | null }
}

export default fp(async function cluster (fastify) {
  const { config } = fastify
  if (config.databaseUrl === null) {
    fastify.decorate('cluster', null)
    return
  }
  const cluster = createCluster({ db: fastify.db, config: { ...config, databaseUrl: config.databaseUrl }, log: fastify.log })
  fastify.decorate('cluster', cluster)
  // started once the event store and agent hub exist (they are registered after this plugin, and use its hooks)
  fastify.addHook('onReady', async () => { await cluster.start(fastify.events, fastify.agents) })
  fastify.addHook('onClose', async () => { await cluster.close() })
}, { name: 'cluster', dependencies: ['config', 'db'] })
