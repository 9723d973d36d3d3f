// An agent's log as a conversation: prompts, Markdown output, collapsed thinking, tool calls beside their
// results, turn results with their cost. Events arrive as contiguous runs, newer (append) or older (prepend).
import { h } from './dom.js'
import { markdown } from './markdown.js'
import { clock, formatCost, formatCount, formatDuration } from './format.js'
import type { StoredEvent } from '../../src/client/index.js'

type Meta = Record<string, unknown>

function meta (e: StoredEvent): Meta {
  return e.metadata ?? {}
}

function str (v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

function num (v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

function time (e: StoredEvent): HTMLElement {
  return h('time', { datetime: e.created_at, title: e.created_at }, clock(e.created_at))
}

function label (text: string, e: StoredEvent): HTMLElement {
  return h('div', { class: 'ev-label' }, h('span', {}, text), ' ', time(e))
}

/** JSON for people: pretty-printed, or the text itself when it is one (a cut input is kept as text). */
function pretty (value: unknown): string {
  if (typeof value === 'string') return value
  try {
    return JSON.stringify(value, null, 2) ?? 'null'
  } catch {
    return String(value)
  }
}

function block (text: string, cls = ''): HTMLElement {
  // scrollable, so it must be reachable by keyboard
  return h('pre', { class: `block ${cls}`, tabindex: 0 }, text)
}

function truncatedNote (e: StoredEvent): HTMLElement | null {
  const t = meta(e).truncated as { original_bytes?: number } | undefined
  return t === undefined ? null : h('p', { class: 'muted small' }, `Cut by the server (originally ${formatCount(t.original_bytes ?? 0)} bytes).`)
}

function resultCell (e: StoredEvent): HTMLElement {
  const failed = meta(e).is_error === true
  return h('div', { class: `tool-result${failed ? ' failed' : ''}`, id: `seq-${e.seq}`, 'data-seq': e.seq },
    h('h4', {}, failed ? 'Error' : 'Result', ' ', time(e)),
    block(e.content ?? ''),
    truncatedNote(e))
}

function resultSummary (e: StoredEvent): HTMLElement {
  const m = meta(e)
  const usage = (m.usage ?? {}) as Meta
  const failed = m.is_error === true
  const parts: string[] = [failed ? `Turn failed${str(m.subtype) !== null ? ` (${str(m.subtype) as string})` : ''}` : 'Turn done']
  const cost = num(m.cost_usd)
  if (cost !== null) parts.push(formatCost(cost))
  const turns = num(m.num_turns)
  if (turns !== null) parts.push(`${turns} turn${turns === 1 ? '' : 's'}`)
  const duration = num(m.duration_ms)
  if (duration !== null) parts.push(formatDuration(duration))
  const input = num(usage.input_tokens)
  const output = num(usage.output_tokens)
  if (input !== null || output !== null) parts.push(`${formatCount(input ?? 0)} in / ${formatCount(output ?? 0)} out tokens`)
  return h('div', { class: `turn${failed ? ' failed' : ''}` }, parts.join(' · '), ' ', time(e),
    failed && e.content !== null && e.content !== '' ? block(e.content) : null)
}

function note (text: string, e: StoredEvent): HTMLElement {
  return h('div', { class: 'note' }, text, ' ', time(e))
}

export class Conversation {
  readonly list: HTMLOListElement
  /** tool_use id → the cell its result goes into, while the result has not arrived. */
  private readonly waiting = new Map<string, HTMLElement>()
  /** tool_use id → a result shown alone because its call is in an older page not loaded yet. */
  private readonly orphans = new Map<string, HTMLElement>()

  constructor (label: string) {
    this.list = h('ol', { class: 'log', 'aria-label': label })
  }

  /** Adds events newer than every one shown, oldest first. */
  append (events: readonly StoredEvent[]): void {
    for (const e of events) {
      const item = this.render(e)
      if (item !== null) this.list.append(item)
    }
  }

  /** Adds events older than every one shown, oldest first. */
  prepend (events: readonly StoredEvent[]): void {
    const items = events.map(e => this.render(e)).filter((i): i is HTMLElement => i !== null)
    this.list.prepend(...items)
  }

  private render (e: StoredEvent): HTMLElement | null {
    const m = meta(e)
    const li = (cls: string, ...children: Array<Node | null>): HTMLElement =>
      h('li', { class: `ev ${cls}`, id: `seq-${e.seq}`, 'data-seq': e.seq, 'data-type': e.event_type }, ...children)

    switch (e.event_type) {
      case 'prompt_sent':
        return li('prompt', label('Prompt', e), h('div', { class: 'text' }, e.content ?? ''))
      case 'output': {
        const body = h('div', { class: 'md' })
        body.append(markdown(e.content ?? ''))
        return li('output', label('Assistant', e), body, truncatedNote(e))
      }
      case 'thinking':
        return li('thinking', h('details', {},
          h('summary', {}, 'Thinking ', time(e)),
          h('div', { class: 'text' }, e.content ?? '')))
      case 'tool_use': {
        const id = str(m.id)
        const slot = h('div', { class: 'tool-result pending' }, h('h4', {}, 'Result'), h('p', { class: 'muted small' }, 'waiting…'))
        const item = li('tool',
          h('div', { class: 'tool-head' }, h('span', { class: 'tool-name' }, e.content ?? str(m.name) ?? 'tool'), ' ', time(e)),
          h('div', { class: 'tool-body' },
            h('div', { class: 'tool-input' }, h('h4', {}, 'Input'), block(pretty(m.input)), truncatedNote(e)),
            slot))
        if (id !== null) {
          const orphan = this.orphans.get(id)
          if (orphan !== undefined) {
            // its result came first (it was in a newer page): move it beside its call
            this.orphans.delete(id)
            const cell = orphan.querySelector('.tool-result')
            if (cell !== null) slot.replaceWith(cell)
            orphan.remove()
          } else {
            this.waiting.set(id, slot)
          }
        }
        return item
      }
      case 'tool_result': {
        const id = str(m.tool_use_id)
        const slot = id === null ? undefined : this.waiting.get(id)
        if (slot !== undefined && id !== null) {
          this.waiting.delete(id)
          slot.replaceWith(resultCell(e))
          return null
        }
        const item = h('li', { class: 'ev tool orphan', 'data-type': e.event_type },
          h('div', { class: 'tool-head' }, h('span', { class: 'tool-name' }, 'Tool result')), resultCell(e))
        if (id !== null) this.orphans.set(id, item)
        return item
      }
      case 'result':
        return li('result', resultSummary(e))
      case 'context_cleared':
        return li('divider', h('div', { class: 'session-start' }, `Session ${e.session_number} · context cleared`, ' ', time(e)))
      case 'context_clear_outcome':
        return li('note', note(`Context clear: ${str(m.agent_context) ?? 'unknown'}`, e))
      case 'activity_changed':
        // shown in the header (busy/idle), not in the conversation
        return null
      case 'permission_requested':
        return li('permission', h('div', { class: 'note' }, 'Permission asked for ', h('span', { class: 'tool-name' }, str(m.tool_name) ?? e.content ?? 'a tool'), ' ', time(e)))
      case 'permission_decided': {
        const decision = str(m.decision) ?? e.content ?? ''
        const word = decision === 'allow' ? 'allowed' : decision === 'deny' ? 'denied' : decision
        const by = str(m.decided_by)
        return li('permission', h('div', { class: `note ${decision === 'deny' ? 'failed' : ''}` },
          h('span', { class: 'tool-name' }, str(m.tool_name) ?? 'tool'), ` ${word}${by !== null ? ` by ${by}` : ''}`,
          str(m.message) !== null ? `: ${str(m.message) as string}` : '', ' ', time(e)))
      }
      case 'operator_command': {
        const outcome = str(m.outcome)
        return li('note', note(`Operator: ${e.content ?? ''}${outcome !== null ? ` (${outcome.replace('_', ' ')})` : ''}`, e))
      }
      case 'agent_restarted':
        return li('note', note(`Agent restarted${e.content !== null ? `: ${e.content}` : ''}`, e))
      default:
        return li('note', note(`${e.event_type}${e.content !== null && e.content !== '' ? `: ${e.content}` : ''}`, e))
    }
  }
}
