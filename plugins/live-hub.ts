// The live feed (src/live/): followers of one agent's log or of every agent's, for the stream routes.
import fp from 'fastify-plugin'
import { createLiveHub, type LiveHub } from '../src/live/hub.js'

declare module 'fastify' {
  interface FastifyInstance { live: LiveHub }
}

export default fp(async function liveHub (fastify) {
  const live = createLiveHub(fastify.db, fastify.events, fastify.agents, fastify.config, fastify.log, fastify.cluster)
  await live.init()
  fastify.decorate('live', live)
  // before the server waits for open connections to end: a stream never ends by itself
  fastify.addHook('preClose', async () => { await live.shutdown() })
  fastify.addHook('onClose', async () => { live.close() })
}, { name: 'live-hub', dependencies: ['config', 'db', 'event-store', 'agent-hub', 'cluster'] })
