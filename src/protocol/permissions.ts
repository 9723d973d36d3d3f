// Claude Code's permission protocol: the can_use_tool request it sends (and blocks on), the control_response
// that answers it, and the control_cancel_request it sends when it stops waiting (an interrupted turn).
import type { AgentMessage } from './ndjson.js'

export interface PermissionRequest {
  /** The CLI's request_id as a string (the key); rawRequestId as it was sent, to answer with. */
  requestId: string
  rawRequestId: string | number
  toolName: string
  input: unknown
  toolUseId: string | null
}

export type PermissionAnswer =
  | { behavior: 'allow', updatedInput: unknown }
  | { behavior: 'deny', message: string }

function isObj (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** A request_id as the key it is kept under (the CLI sends strings; numbers are taken too), or null. */
function idKey (id: unknown): string | null {
  return typeof id === 'string' || typeof id === 'number' ? String(id) : null
}

export function permissionRequest (message: AgentMessage): PermissionRequest | null {
  if (message.type !== 'control_request') return null
  const request = message.request
  const rawRequestId = message.request_id
  if (!isObj(request) || request.subtype !== 'can_use_tool') return null
  if (typeof rawRequestId !== 'string' && typeof rawRequestId !== 'number') return null
  return {
    requestId: String(rawRequestId),
    rawRequestId,
    toolName: typeof request.tool_name === 'string' ? request.tool_name : 'unknown',
    input: request.input ?? {},
    toolUseId: typeof request.tool_use_id === 'string' ? request.tool_use_id : null
  }
}

/** The request_id of a control_cancel_request, or null for any other line. */
export function cancelledRequestId (message: AgentMessage): string | null {
  if (message.type !== 'control_cancel_request') return null
  return idKey(message.request_id)
}

/**
 * The request_id a control_response answers (as a string, the key), or null for any other line: what tells the relay
 * that the CLI no longer waits for a permission request it holds for replay.
 */
export function answeredRequestId (message: AgentMessage): string | null {
  if (message.type !== 'control_response') return null
  const inner = message.response
  return isObj(inner) ? idKey(inner.request_id) : null
}

/** The control_response line for a can_use_tool request (the CLI matches it by request_id, as sent). */
export function permissionResponse (rawRequestId: string | number, answer: PermissionAnswer): Record<string, unknown> {
  return { type: 'control_response', response: { subtype: 'success', request_id: rawRequestId, response: answer } }
}
