// Who the presented token is: lets a UI show only the controls its token may use.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorBody } from '../src/schemas/common.js'

const WhoAmI = Type.Object({
  access_control: Type.Boolean({ description: 'whether the server checks tokens at all' }),
  role: Type.Union([Type.Literal('reader'), Type.Literal('operator'), Type.Literal('agent'), Type.Null()], {
    description: "the token's role; null when access control is off (every request is allowed)"
  })
}, { description: 'Whether tokens are checked, and the presented token\'s role' })

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
