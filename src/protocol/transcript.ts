// What a record of Claude Code's own transcript (~/.claude/projects/<project>/<session>.jsonl) means for the log:
// the same event drafts a live stream-json line gives, a session boundary (/clear), the session's running cost,
// or nothing (bookkeeping and record types this version does not know, which are counted, never an error).
//
// The transcript's `assistant` and tool-result `user` records carry the uuids of the stream-json lines a relayed
// CLI sent, so they map through the same functions as live lines and dedupe against them. Prompts are `user`
// records with text content; the /clear command is a `user` record holding `<command-name>/clear</command-name>`.
import { roundUsd } from '../usd.js'
import { createHash } from 'node:crypto'
import type { AgentMessage } from './ndjson.js'
import { assistantEvents, type EventDraft, truncateUtf8, userEvents } from './messages.js'
import { isClearReplyAssistant } from './clear.js'

/** Where an imported event came from: stored as `metadata.source`. */
export interface TranscriptSource {
  kind: 'transcript'
  file: string
  line: number
}

/** A transcript's cumulative cost and tokens so far (from its `cost-state` records). */
export interface TranscriptCost {
  cost_usd: number
  input_tokens: number
  output_tokens: number
  cache_read_tokens: number
  cache_creation_tokens: number
}

export type MappedRecord =
  /** Conversation: events to append (possibly none, e.g. a blank text block); `uuid` is the dedupe key. */
  | { kind: 'events', uuid: string | null, at: string | null, drafts: EventDraft[], prompt: boolean }
  /** The /clear command: the session boundary. */
  | { kind: 'clear', uuid: string | null, at: string | null }
  | { kind: 'cost', cost: TranscriptCost }
  /** Known bookkeeping (not conversation), or a record type this version does not know. */
  | { kind: 'skipped', type: string, known: boolean }

/**
 * Record types Claude Code writes that are not conversation. Anything else that is not conversation is counted
 * as unknown: newer versions add types, older ones lack some.
 */
export const BOOKKEEPING_TYPES = new Set([
  'attachment', 'api-request', 'api-request-shape', 'api-request-blob', 'queue-operation', 'mode', 'atis-latch',
  'last-prompt', 'tools-used', 'system', 'summary', 'file-history-snapshot', 'custom-title', 'tag', 'progress'
])

type Obj = Record<string, unknown>

function isObj (value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** The record's own time as ISO-8601 UTC with milliseconds, or null when it has none (or a broken one). */
export function recordTime (record: Obj): string | null {
  const ts = record.timestamp
  if (typeof ts !== 'string' && typeof ts !== 'number') return null
  const d = new Date(ts)
  return Number.isNaN(d.getTime()) ? null : d.toISOString()
}

function recordUuid (record: Obj): string | null {
  const uuid = record.uuid
  return typeof uuid === 'string' && uuid.length > 0 && uuid.length <= 200 ? uuid : null
}

/** Text of a prompt: a string, or the text blocks of an array (images noted as `[image]`). */
function promptText (content: unknown): string | null {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return null
  const parts: string[] = []
  for (const block of content) {
    if (!isObj(block)) continue
    if (block.type === 'text' && typeof block.text === 'string') parts.push(block.text)
    else if (block.type === 'image') parts.push('[image]')
    else return null // tool results and anything else are not a prompt
  }
  return parts.length === 0 ? null : parts.join('\n')
}

const COMMAND = /^\s*<command-name>([^<]*)<\/command-name>/
const COMMAND_ARGS = /<command-args>([\s\S]*?)<\/command-args>/
/** Output of a local command, or the harness's note that one ran: context for the model, not a prompt. */
const LOCAL_COMMAND_NOTE = /^\s*<(local-command-stdout|local-command-stderr|local-command-caveat)>/

function withSource (draft: EventDraft, source: TranscriptSource): EventDraft {
  return { ...draft, metadata: { ...(draft.metadata ?? {}), source } }
}

function sumCost (record: Obj): TranscriptCost {
  const n = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1e12 ? v : 0
  const cost: TranscriptCost = { cost_usd: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0 }
  const total = record.totalCostUSD
  cost.cost_usd = typeof total === 'number' && Number.isFinite(total) && total >= 0 && total <= 1e9 ? total : 0
  const models = isObj(record.modelUsage) ? record.modelUsage : {}
  for (const usage of Object.values(models)) {
    if (!isObj(usage)) continue
    cost.input_tokens += Math.floor(n(usage.inputTokens))
    cost.output_tokens += Math.floor(n(usage.outputTokens))
    cost.cache_read_tokens += Math.floor(n(usage.cacheReadInputTokens))
    cost.cache_creation_tokens += Math.floor(n(usage.cacheCreationInputTokens))
  }
  return cost
}

/** Maps one parsed transcript record (an object with a string `type`). Pure. */
export function mapTranscriptRecord (record: AgentMessage, source: TranscriptSource, maxBytes: number): MappedRecord {
  const at = recordTime(record)
  const uuid = recordUuid(record)
  switch (record.type) {
    case 'assistant': {
      // the CLI's own answer to /clear is not conversation (the live path drops it too)
      if (isClearReplyAssistant(record)) return { kind: 'skipped', type: 'assistant', known: true }
      const drafts = assistantEvents(record, maxBytes).map(d => withSource(d, source))
      return { kind: 'events', uuid, at, drafts, prompt: false }
    }
    case 'user': {
      const message = isObj(record.message) ? record.message : {}
      const content = message.content
      if (Array.isArray(content) && content.some(b => isObj(b) && b.type === 'tool_result')) {
        const drafts = userEvents(record, maxBytes).map(d => withSource(d, source))
        return { kind: 'events', uuid, at, drafts, prompt: false }
      }
      // harness notes, compaction summaries and a sub-agent's task prompt are not the user's prompts
      if (record.isMeta === true || record.isCompactSummary === true || record.isSidechain === true) {
        return { kind: 'skipped', type: 'user', known: true }
      }
      const text = promptText(content)
      if (text === null || text.trim() === '' || LOCAL_COMMAND_NOTE.test(text)) return { kind: 'skipped', type: 'user', known: true }
      const command = COMMAND.exec(text)
      let prompt = text
      if (command !== null) {
        const name = command[1].trim()
        if (name === '/clear') return { kind: 'clear', uuid, at }
        // a slash command is stored as the operator would have typed it
        const args = COMMAND_ARGS.exec(text)?.[1].trim() ?? ''
        prompt = args === '' ? name : `${name} ${args}`
      }
      const cut = truncateUtf8(prompt, maxBytes)
      const metadata: Obj = { uuid, source }
      if (cut !== null) metadata.truncated = { original_bytes: cut.originalBytes }
      return {
        kind: 'events',
        uuid,
        at,
        drafts: [{ event_type: 'prompt_sent', content: cut === null ? prompt : cut.text, metadata }],
        prompt: true
      }
    }
    case 'cost-state':
      return { kind: 'cost', cost: sumCost(record) }
    default:
      return { kind: 'skipped', type: record.type, known: BOOKKEEPING_TYPES.has(record.type) }
  }
}

/** The growth of a transcript's cumulative cost since `before`; a counter that went down started again at zero. */
export function costDelta (before: TranscriptCost, now: TranscriptCost): TranscriptCost {
  const d = (a: number, b: number) => b >= a ? b - a : b
  return {
    cost_usd: roundUsd(d(before.cost_usd, now.cost_usd)),
    input_tokens: d(before.input_tokens, now.input_tokens),
    output_tokens: d(before.output_tokens, now.output_tokens),
    cache_read_tokens: d(before.cache_read_tokens, now.cache_read_tokens),
    cache_creation_tokens: d(before.cache_creation_tokens, now.cache_creation_tokens)
  }
}

export const ZERO_COST: TranscriptCost = { cost_usd: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0 }

/**
 * The agent id for a Claude Code project folder (`-home-dev-project`, the working directory with every character
 * but letters and digits turned into `-`): `claude-` and the folder name without its leading dashes, with any
 * character an agent id cannot hold turned into `-`. Names that would pass 128 characters are cut and end with 8
 * hex digits of the folder name's SHA-256, so different long folders stay different agents.
 */
export function agentIdForProject (folder: string): string {
  let body = folder.replace(/[^A-Za-z0-9._:-]/g, '-').replace(/^[-._:]+/, '')
  if (body === '') body = 'root'
  const id = `claude-${body}`
  if (id.length <= 128) return id
  const hash = createHash('sha256').update(folder, 'utf8').digest('hex').slice(0, 8)
  return `${id.slice(0, 119)}-${hash}`
}
