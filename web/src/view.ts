// What the router holds: the current view, closed (streams, timers) when another replaces it.
import type { Identity } from '../../src/client/index.js'

export interface View {
  dispose: () => void
}

export interface Capabilities {
  who: Identity
  /** The token may send prompts, clear, interrupt and decide approvals. */
  operate: boolean
}
