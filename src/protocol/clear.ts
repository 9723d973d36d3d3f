// What `/clear` looks like on the wire, for the server (which turn a reply ends) and `agentlog connect` alike.
import type { AgentMessage } from './ndjson.js'

type Obj = Record<string, unknown>

function isObj (value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

const CLEAR_TEXT = /^\/clear\b/

/** A prompt that is exactly `/clear` (as a string, or as one text block). */
export function isClearPrompt (message: Obj | null): boolean {
  if (message?.type !== 'user') return false
  const inner = isObj(message.message) ? message.message : {}
  const content = inner.content
  if (typeof content === 'string') return content.trim() === '/clear'
  if (!Array.isArray(content) || content.length !== 1) return false
  const block = content[0]
  return isObj(block) && block.type === 'text' && typeof block.text === 'string' && block.text.trim() === '/clear'
}

/**
 * The CLI's own synthetic answer to `/clear` (no model call behind it): "(no content)" from a version that
 * clears, "/clear isn't available in this environment." from one that cannot.
 */
export function isClearReplyAssistant (message: AgentMessage | Obj): boolean {
  if (message.type !== 'assistant') return false
  const inner = isObj(message.message) ? message.message : {}
  if (inner.model !== '<synthetic>') return false
  const blocks = Array.isArray(inner.content) ? inner.content : []
  return blocks.every(b => isObj(b) && b.type === 'text' && typeof b.text === 'string' &&
    (b.text.trim() === '(no content)' || CLEAR_TEXT.test(b.text.trim())))
}

/**
 * The CLI's "(no content)" placeholder (a `<synthetic>` model message whose only text is "(no content)"): never
 * conversation. 2.1.120 answers `/clear` with it, and sends it again with a new uuid after a reconnect, when no
 * clear is waiting for an answer any more.
 */
export function isNoContentPlaceholder (message: AgentMessage | Obj): boolean {
  if (message.type !== 'assistant') return false
  const inner = isObj(message.message) ? message.message : {}
  if (inner.model !== '<synthetic>') return false
  const blocks = Array.isArray(inner.content) ? inner.content : []
  return blocks.length > 0 && blocks.every(b => isObj(b) && b.type === 'text' && typeof b.text === 'string' && b.text.trim() === '(no content)')
}

/**
 * The `result` that ends a `/clear` turn: `cleared` (num_turns 0: the version cleared its context) or
 * `refused` (2.1.112 answers with a turn whose result starts with "/clear"); null for any other line.
 */
export function clearReply (message: AgentMessage | Obj): 'cleared' | 'refused' | null {
  if (message.type !== 'result') return null
  if (message.num_turns === 0) return 'cleared'
  return typeof message.result === 'string' && CLEAR_TEXT.test(message.result.trim()) ? 'refused' : null
}
