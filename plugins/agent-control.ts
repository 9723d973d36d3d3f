// Asking a connected agent to do something and waiting for its answer: a `control_request` goes out on the agent's
// socket, the CLI's `control_response` (matched by request_id) settles it, a deadline bounds the wait.
// The operator routes (interrupt, permission mode, model) use it; so can anything else that needs the CLI's answer.
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { AgentMessage } from '../src/protocol/ndjson.js'
import { controlRequestLine, readControlResponse, type ControlRequestBody } from '../src/protocol/control.js'

declare module 'fastify' {
  interface FastifyInstance { agentControl: AgentControl }
}

export type ControlOutcome =
  | { outcome: 'success', requestId: string, response: Record<string, unknown> }
  | { outcome: 'error', requestId: string, error: string }
  /** Nothing came back within the wait (a late answer is ignored). */
  | { outcome: 'no_answer', requestId: string }
  /** The agent had no open socket: nothing was sent. */
  | { outcome: 'not_connected', requestId: null }

interface Pending {
  agentId: string
  resolve: (outcome: ControlOutcome) => void
  timer: NodeJS.Timeout
}

/** `send` writes one line to the agent's socket and says whether it had one open. */
export function createAgentControl (send: (agentId: string, line: unknown) => boolean) {
  const pending = new Map<string, Pending>()

  return {
    /** Sends a control request and resolves with the agent's answer, or no_answer after waitMs. */
    request (agentId: string, body: ControlRequestBody, waitMs: number): Promise<ControlOutcome> {
      const requestId = randomUUID()
      return new Promise<ControlOutcome>((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(requestId)
          resolve({ outcome: 'no_answer', requestId })
        }, waitMs)
        pending.set(requestId, { agentId, resolve, timer })
        if (!send(agentId, controlRequestLine(requestId, body))) {
          clearTimeout(timer)
          pending.delete(requestId)
          resolve({ outcome: 'not_connected', requestId: null })
        }
      })
    },

    /**
     * A control_response line from the agent: true when it answered one of our requests (and is consumed),
     * false when it is someone else's (or not a control_response).
     */
    settle (agentId: string, message: AgentMessage): boolean {
      const answer = readControlResponse(message)
      if (answer === null) return false
      const waiting = pending.get(answer.requestId)
      // another agent cannot answer for this one
      if (waiting === undefined || waiting.agentId !== agentId) return false
      pending.delete(answer.requestId)
      clearTimeout(waiting.timer)
      waiting.resolve(answer.ok
        ? { outcome: 'success', requestId: answer.requestId, response: answer.response }
        : { outcome: 'error', requestId: answer.requestId, error: answer.error })
      return true
    },

    get pending (): number { return pending.size },

    /** Ends every wait now (server shutting down). */
    close (): void {
      for (const [requestId, waiting] of pending) {
        clearTimeout(waiting.timer)
        waiting.resolve({ outcome: 'no_answer', requestId })
      }
      pending.clear()
    }
  }
}

export type AgentControl = ReturnType<typeof createAgentControl>

export default fp(async function agentControl (fastify) {
  const control = createAgentControl((agentId, line) => fastify.agents.sendLine(agentId, line))
  fastify.decorate('agentControl', control)
  fastify.addHook('onClose', async () => { control.close() })
}, { name: 'agent-control', dependencies: ['agent-hub'] })
