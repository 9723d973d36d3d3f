// The fleet of runners (src/fleet/): decorated as `fleet`; its waits end when the server closes.
import fp from 'fastify-plugin'
import { createFleet, type Fleet } from '../src/fleet/fleet.js'
import { createFleetRepository } from '../src/fleet/repository.js'
import { createPromptSender } from '../src/prompt.js'

declare module 'fastify' {
  interface FastifyInstance { fleet: Fleet }
}

export default fp(async function fleet (fastify) {
  const f = createFleet({
    repo: createFleetRepository(fastify.db),
    events: fastify.events,
    agents: fastify.agents,
    prompt: createPromptSender(fastify.events, fastify.agents),
    config: fastify.config,
    log: fastify.log.child({ module: 'fleet' }),
    cluster: fastify.cluster
  })
  fastify.decorate('fleet', f)
  fastify.addHook('preClose', async () => { f.close() })
}, { name: 'fleet', dependencies: ['config', 'db', 'event-store', 'agent-hub', 'cluster'] })
