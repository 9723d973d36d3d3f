// Control messages between agentlog and Claude Code: a `control_request` we send (interrupt, set_permission_mode,
// set_model, …) and the `control_response` the CLI answers it with, matched by request_id.
import type { AgentMessage } from './ndjson.js'

/** The permission modes `set_permission_mode` takes (the CLI refuses bypassPermissions unless started allowing it). */
export const PERMISSION_MODES = ['default', 'acceptEdits', 'plan', 'bypassPermissions'] as const
export type PermissionMode = typeof PERMISSION_MODES[number]

export type ControlRequestBody =
  | { subtype: 'interrupt' }
  | { subtype: 'set_permission_mode', mode: PermissionMode }
  | { subtype: 'set_model', model: string }

/** The line that asks the CLI to do something; it answers with a control_response carrying the same request_id. */
export function controlRequestLine (requestId: string, request: ControlRequestBody): Record<string, unknown> {
  return { type: 'control_request', request_id: requestId, request }
}

export type ControlAnswer =
  | { requestId: string, ok: true, response: Record<string, unknown> }
  | { requestId: string, ok: false, error: string }

/**
 * What a `control_response` line from the CLI says, or null when the line is not one:
 * `{ type: 'control_response', response: { subtype: 'success', request_id, response? } }` or
 * `{ … subtype: 'error', request_id, error }`.
 */
export function readControlResponse (message: AgentMessage): ControlAnswer | null {
  if (message.type !== 'control_response') return null
  const inner = message.response
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return null
  const { subtype, request_id: requestId } = inner as Record<string, unknown>
  if (typeof requestId !== 'string' || requestId === '') return null
  if (subtype === 'success') {
    const response = (inner as Record<string, unknown>).response
    return { requestId, ok: true, response: response !== null && typeof response === 'object' && !Array.isArray(response) ? response as Record<string, unknown> : {} }
  }
  const error = (inner as Record<string, unknown>).error
  return { requestId, ok: false, error: typeof error === 'string' && error !== '' ? error : `the agent answered ${JSON.stringify(subtype ?? null)}` }
}
