// The /clear prompts on their way through the relay, and what a line from the CLI means while one is: pure. What
// a /clear and its reply look like on the wire is src/protocol/clear.ts.
import { clearReply, isClearPrompt, isClearReplyAssistant } from '../../protocol/clear.js'

type Obj = Record<string, any>

export interface Clears {
  /** /clear prompts written to the CLI and not answered yet. */
  pending: number
  /** Prompts written to the CLI after a pending /clear: a fresh process must get them again. */
  afterClear: string[]
}

export const NO_CLEARS: Clears = { pending: 0, afterClear: [] }

/** A line written to the CLI: a prompt behind a pending /clear is kept, a /clear is counted. */
export function promptWritten (state: Clears, message: Obj | null, line: string): Clears {
  if (message?.type !== 'user') return state
  return {
    pending: isClearPrompt(message) ? state.pending + 1 : state.pending,
    afterClear: state.pending > 0 ? [...state.afterClear, line] : state.afterClear
  }
}

/**
 * What the relay does with a line from the CLI, given the clears pending: 'relay' it; 'swallow' the CLI's own
 * synthetic answer to /clear (the result says all); 'replace_cli' when the CLI refused to clear (2.1.112: "/clear
 * isn't available in this environment."): a fresh process is a clear context, and gets the prompts queued behind.
 * A cleared result is relayed; once no clear is pending, the queued prompts are forgotten (the CLI answers them).
 */
export function cliSaid (state: Clears, message: Obj | null): { state: Clears, verdict: 'relay' | 'swallow' | 'replace_cli' } {
  if (message === null || state.pending === 0) return { state, verdict: 'relay' }
  if (isClearReplyAssistant(message)) return { state, verdict: 'swallow' }
  const reply = clearReply(message)
  if (reply === 'refused') return { state: { ...state, pending: state.pending - 1 }, verdict: 'replace_cli' }
  if (reply === 'cleared') {
    const pending = state.pending - 1
    return { state: { pending, afterClear: pending === 0 ? [] : state.afterClear }, verdict: 'relay' }
  }
  return { state, verdict: 'relay' }
}
