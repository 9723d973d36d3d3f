// What the router holds: the current view, closed (streams, timers) when another replaces it.
import type { WhoAmI } from './types.js'

export interface View {
  dispose: () => void
}

export interface Capabilities {
  who: WhoAmI
  /** The token may send prompts, clear, interrupt and decide approvals. */
  operate: boolean
}
