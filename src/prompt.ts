// Sending a prompt to a connected agent: stored as prompt_sent first, then sent on the agent's socket (never
// before it is committed). POST /agents/:id/messages and a started agent's first prompt (src/fleet/) use it.
import type { AgentHub } from './agent-hub.js'
import { agentNotConnected, errorBody, httpError } from './errors.js'
import type { StoredEvent } from './schemas/events.js'
import type { EventStore } from './store/event-store.js'

export interface PromptAnswer {
  agent_id: string
  session_number: number
  events: StoredEvent[]
}

/** The prompt was stored, but its agent disconnected before it could be sent. */
function notSent (agentId: string) {
  return httpError(409, `the prompt was stored (prompt_sent) but agent ${agentId} disconnected before it could be sent to it`, 'agent_not_connected')
}

export function createPromptSender (events: EventStore, agents: AgentHub) {
  /**
   * Stores the prompt, then sends it to the agent's socket here (a prompt the log does not hold never runs, and a
   * retry after a 503 cannot run it twice). `settle` hears of a prompt whose commit outlived WRITE_TIMEOUT_MS
   * (answered 503): its final answer, once it is committed and sent, or null.
   */
  return async function prompt (agentId: string, content: string, settle: (final: Promise<{ status: number, body: unknown } | null>) => void = () => {}): Promise<PromptAnswer> {
    if (!agents.isConnected(agentId)) throw agentNotConnected(agentId)
    const state = await events.loadAgent(agentId, true)
    if (state === null || !agents.isConnected(agentId)) throw agentNotConnected(agentId)
    let sent = false
    const answer = (evs: StoredEvent[]) => ({ agent_id: agentId, session_number: evs[0].session_number, events: evs })
    try {
      const evs = await events.sendPrompt(agentId, content, () => { sent = agents.sendUserMessage(agentId, content) })
      if (!sent) throw notSent(agentId)
      return answer(evs)
    } catch (err) {
      const settled = (err as { settled?: Promise<StoredEvent[] | null> }).settled
      if (settled !== undefined) {
        settle(settled.then(evs => evs === null ? null : sent ? { status: 202, body: answer(evs) } : { status: 409, body: errorBody(notSent(agentId)) }))
      }
      throw err
    }
  }
}

export type PromptSender = ReturnType<typeof createPromptSender>
