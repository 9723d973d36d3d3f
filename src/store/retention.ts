// Retention: an agent's oldest events beyond EVENTS_MAX_PER_AGENT are deleted in bounded steps between
// batches, so ingest keeps moving. Session totals stay in the sessions table, untouched.
import type { StoreBackend } from './backend.js'
import type { Agents } from './agents.js'

const PRUNE_CHUNK = 5000

export function createRetention (backend: StoreBackend, agents: Agents, maxPerAgent: number) {
  const due = new Set<string>()

  return {
    /** After a commit: is the agent over its limit? */
    check (agentId: string): void {
      if (maxPerAgent === 0) return
      const st = agents.get(agentId)?.committed
      if (st !== undefined && st.oldestSeq !== null && st.lastSeq - st.oldestSeq + 1 > maxPerAgent) due.add(agentId)
    },
    get pending (): boolean { return due.size > 0 },
    forget (agentId: string): void { due.delete(agentId) },
    /** Deletes one bounded slice of one agent's oldest events; false when nothing was due. */
    async step (): Promise<boolean> {
      const next = due.values().next()
      if (next.done === true) return false
      const agentId = next.value
      due.delete(agentId)
      const state = agents.get(agentId)
      if (state === undefined) return true
      const { lastSeq, oldestSeq } = state.committed
      const keepFrom = lastSeq - maxPerAgent + 1
      if (oldestSeq === null || oldestSeq >= keepFrom) return true
      const cutoff = Math.min(keepFrom, oldestSeq + PRUNE_CHUNK)
      try {
        await backend.prune(state.key, cutoff)
      } catch (err) {
        due.add(agentId)
        throw err
      }
      state.committed = { ...state.committed, oldestSeq: cutoff }
      if (cutoff < keepFrom) due.add(agentId)
      return true
    }
  }
}
