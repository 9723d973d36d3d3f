// The agents' live sockets (src/agent-hub.ts), one hub for the app.
import fp from 'fastify-plugin'
import { createAgentHub, type AgentHub } from '../src/agent-hub.js'

declare module 'fastify' {
  interface FastifyInstance { agents: AgentHub }
}

export default fp(async function agentHub (fastify) {
  fastify.decorate('agents', createAgentHub())
}, { name: 'agent-hub' })
