// Who the presented token is: lets a UI show only the controls its token may use.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { WhoAmI } from '../src/schemas/health.js'
import { ErrorBody } from '../src/schemas/common.js'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/auth/whoami', {
    schema: {
      summary: "The token's role",
      description: 'Answers any valid token, of any role (401 without one when access control is on).',
      tags: ['auth'],
      response: { 200: WhoAmI, 401: ErrorBody }
    }
  }, async function (request) {
    return {
      access_control: fastify.config.authTokens.length > 0,
      role: request.principal?.role ?? null
    }
  })
}

export default plugin
