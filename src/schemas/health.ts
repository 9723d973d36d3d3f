// Schemas of the health and whoami answers.
import { Type } from '@sinclair/typebox'

export const Health = Type.Object({
  status: Type.String(),
  queue_depth: Type.Optional(Type.Integer()),
  connected_agents: Type.Optional(Type.Integer()),
  last_error: Type.Optional(Type.Union([Type.String(), Type.Null()]))
}, { description: 'The server\'s state' })

export const WhoAmI = Type.Object({
  access_control: Type.Boolean({ description: 'whether the server checks tokens at all' }),
  role: Type.Union([Type.Literal('reader'), Type.Literal('operator'), Type.Literal('agent'), Type.Literal('runner'), Type.Null()], {
    description: "the token's role; null when access control is off (every request is allowed)"
  })
}, { description: 'Whether tokens are checked, and the presented token\'s role' })
