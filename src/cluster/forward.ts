// Routes' side of forwarded commands: the owner's answer when another instance owns the agent, else null.
import { errorCode, httpError } from '../errors.js'
import type { Cluster, CommandResult } from './cluster.js'

/** The owner's answer (its errors thrown again, as it gave them), or null to run the command here. */
export async function forwarded (cluster: Cluster | null, agentId: string, kind: string, body: unknown, waitMs: number): Promise<CommandResult | null> {
  if (cluster === null) return null
  const result = await cluster.route(agentId, kind, body, waitMs)
  if (result === null) return null
  if (result.status >= 400) {
    const err = result.body as { message: string, code: string }
    throw httpError(result.status, err.message, errorCode(err.code, result.status))
  }
  return result
}

/** A forwarded command may take this much longer than the same command on the owner (notices, reads). */
export const FORWARD_MARGIN_MS = 5000
