// Who follows what: every follower, those of each agent's log, and those of the global stream.
import type { FollowerState } from './follower.js'

const none: ReadonlySet<FollowerState> = new Set()

export class FollowerRegistry {
  readonly all = new Set<FollowerState>()
  readonly globals = new Set<FollowerState>()
  private readonly byAgent = new Map<string, Set<FollowerState>>()

  /** Registers a follower; true when it is the first of its agent's log, or of the global stream. */
  add (f: FollowerState): boolean {
    this.all.add(f)
    if (f.scope === 'global') {
      this.globals.add(f)
      return this.globals.size === 1
    }
    let set = this.byAgent.get(f.agentId)
    const first = set === undefined
    if (set === undefined) {
      set = new Set()
      this.byAgent.set(f.agentId, set)
    }
    set.add(f)
    return first
  }

  /** Forgets a follower; true when it was the last of its agent's log, or of the global stream. */
  delete (f: FollowerState): boolean {
    if (!this.all.delete(f)) return false
    if (f.scope === 'global') return this.globals.delete(f) && this.globals.size === 0
    const set = this.byAgent.get(f.agentId)
    if (set === undefined || !set.delete(f) || set.size > 0) return false
    this.byAgent.delete(f.agentId)
    return true
  }

  /** The followers of one agent's log. */
  ofAgent (agentId: string): ReadonlySet<FollowerState> {
    return this.byAgent.get(agentId) ?? none
  }

  /** Whether anyone follows the agent's log. */
  follows (agentId: string): boolean {
    return this.byAgent.has(agentId)
  }

  /** How many agents' logs are followed. */
  get agents (): number {
    return this.byAgent.size
  }
}
