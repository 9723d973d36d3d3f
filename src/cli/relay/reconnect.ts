// When the relay connects to the server again, how, and after how long; and which refusals end it: pure.
import { CloseCodes } from '../../protocol/close-codes.js'

/** Close codes after which reconnecting cannot help; every other close (and a failed upgrade) reconnects. */
export const FINAL_CLOSES: Record<number, string> = {
  [CloseCodes.PROTOCOL_ERROR]: 'protocol error',
  [CloseCodes.REPLACED]: 'replaced by a newer connection for the same agent',
  [CloseCodes.REFUSED]: 'refused by the server: check the agent id and the token (--token, --token-file, AGENTLOG_TOKEN)'
}

/** A refused upgrade's HTTP status that is about the token, and final; anything else (a proxy's 502, 503) is retried. */
export function refusesToken (status: number): boolean {
  return status === 401 || status === 403
}

export interface Close {
  code: number
  reason: string
  /** The HTTP status of an upgrade refused for the token (see refusesToken), or null. */
  refusedStatus: number | null
  tokenGiven: boolean
}

/** Why a close ends the relay for good (what it says), or null when the relay reconnects. */
export function finalClose (close: Close): string | null {
  if (close.refusedStatus !== null) {
    const hint = close.tokenGiven ? '' : ': no token was given; use --token, --token-file or AGENTLOG_TOKEN'
    return `the server refused the agent's token (HTTP ${close.refusedStatus}${hint}); not reconnecting, stopping the CLI`
  }
  const final = FINAL_CLOSES[close.code]
  if (final === undefined) return null
  return `the server closed the agent socket with ${close.code} (${final}${close.reason !== '' ? `: ${close.reason}` : ''}); not reconnecting, stopping the CLI`
}

/**
 * The wait before reconnecting after `attempt` failed or lost connections in a row: from initialMs doubling up to
 * maxMs, the upper half of it at random (`random` in [0, 1)), so that agents cut off together do not come back together.
 */
export function backoffDelay (attempt: number, initialMs: number, maxMs: number, random: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** attempt)
  return Math.round(base / 2 + random * base / 2)
}

/**
 * The headers of a connection: the token, and, like the CLI, on a reconnect of the same process only,
 * x-last-request-id (the last uuid sent, else this run's id), which keeps the server's cost baseline.
 */
export function connectHeaders (how: { reconnect: boolean, lastUuid: string | null, runId: string, token: string | null }): Record<string, string> {
  const headers: Record<string, string> = {}
  if (how.reconnect) headers['x-last-request-id'] = how.lastUuid ?? how.runId
  if (how.token !== null) headers.authorization = `Bearer ${how.token}`
  return headers
}

/**
 * What to say about an outage, once per outage: 'lost' when an open connection closed, 'unreachable' when the
 * server could not be reached three times in a row; null when that was said already, or it is too early to.
 */
export function outageWarning (state: { wasOpen: boolean, warned: boolean, attempt: number }): 'lost' | 'unreachable' | null {
  if (state.warned) return null
  if (state.wasOpen) return 'lost'
  return state.attempt >= 3 ? 'unreachable' : null
}
