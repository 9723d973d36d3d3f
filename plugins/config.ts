// Exposes the validated configuration to every plugin and route.
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance { config: Config }
}

export default fp<{ config: Config }>(async function config (fastify, opts) {
  fastify.decorate('config', opts.config)
}, { name: 'config' })
