// Schemas of the operator's control commands: interrupt, permission mode, model.
import { Type } from '@sinclair/typebox'
import { Event } from './events.js'
import { PERMISSION_MODES } from '../protocol/control.js'

/** interrupt takes no body (an empty one, or none) */
export const InterruptBody = Type.Optional(Type.Unknown())

export const PermissionModeBody = Type.Object({
  mode: Type.Union(PERMISSION_MODES.map(m => Type.Literal(m)), { description: 'the permission mode the agent switches to' })
}, { additionalProperties: false })

export const ModelBody = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f]+$', description: 'a model name or alias the CLI accepts (e.g. sonnet, opus, or "default")' })
}, { additionalProperties: false })

export const ControlResult = Type.Object({
  agent_id: Type.String(),
  command: Type.String({ description: 'interrupt, set_permission_mode or set_model' }),
  params: Type.Object({}, { additionalProperties: true }),
  outcome: Type.Union([Type.Literal('success'), Type.Literal('no_answer')], {
    description: 'success: the agent confirmed it (200); no_answer: sent, but not confirmed within CONTROL_WAIT_MS (202)'
  }),
  response: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
    description: 'what the agent answered (e.g. { mode } for set_permission_mode; often empty); null without an answer'
  }),
  event: Event
})
