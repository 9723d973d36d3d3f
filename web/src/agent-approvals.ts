// The tool requests of an agent waiting for a person: the rule that asked and the input, with Allow / Deny (and an
// optional reason) for an operator; polled, and reloaded when the log says one was asked or decided.
import { api, ApiError, isMissingRoute } from './api.js'
import { h, toast } from './dom.js'
import { relativeTime } from './format.js'
import type { StreamState } from './stream.js'
import type { Approval, Approvals, Decision, DecisionOutcome, StoredEvent } from '../../src/client/index.js'

function pretty (value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? 'null'
  } catch {
    return String(value)
  }
}

export interface AgentApprovals {
  /** The section, hidden while nothing waits. */
  section: HTMLElement
  load: () => Promise<void>
  live: (state: StreamState) => void
  event: (e: StoredEvent) => void
  dispose: () => void
}

/** `operate`: the token may decide, so each request gets the buttons. */
export function agentApprovals (agentId: string, path: string, operate: boolean): AgentApprovals {
  let disposed = false
  /** false once the server turns out to have no approvals route */
  let supported = true
  const list = h('ul', { class: 'approvals-list' })
  const section = h('section', { class: 'approvals', 'aria-labelledby': 'approvals-title', hidden: true },
    h('h2', { id: 'approvals-title' }, 'Pending tool requests'), list)

  async function load (): Promise<void> {
    if (!supported) return
    try {
      const { approvals: pending } = await api<Approvals>(`approvals?agent=${encodeURIComponent(agentId)}`)
      if (disposed) return
      section.hidden = pending.length === 0
      list.replaceChildren(...pending.map(card))
    } catch (err) {
      if (isMissingRoute(err)) {
        supported = false
        section.hidden = true
      }
    }
  }

  function card (a: Approval): HTMLElement {
    const reasonId = `reason-${a.request_id}`
    const item = h('li', { class: 'approval', 'data-request': a.request_id },
      h('h3', {}, h('span', { class: 'tool-name' }, a.tool_name), ' ',
        h('span', { class: 'muted small' }, `requested ${relativeTime(a.requested_at, Date.now())}`),
        a.seq !== null ? [' · ', h('a', { class: 'small', href: `#/agent/${encodeURIComponent(agentId)}/${a.seq}` }, 'in the log')] : null),
      a.rule !== null
        ? h('p', { class: 'muted small' }, `Asked by ${a.rule.id}: ${a.rule.tool}${a.rule.input !== null ? ` ${a.rule.input}` : ''}`)
        : h('p', { class: 'muted small' }, 'Asked by the policy default'),
      h('pre', { class: 'block', tabindex: 0 }, pretty(a.input)))
    if (!operate) return item
    const reason = h('input', { id: reasonId, type: 'text', autocomplete: 'off' })
    const decide = async (behavior: 'allow' | 'deny', button: HTMLButtonElement): Promise<void> => {
      button.disabled = true
      try {
        const body: Decision = { behavior }
        if (behavior === 'deny' && reason.value.trim() !== '') body.message = reason.value.trim()
        const r = await api<DecisionOutcome>(`${path}/approvals/${encodeURIComponent(a.request_id)}`, { method: 'POST', body })
        toast(`${a.tool_name}: ${behavior === 'allow' ? 'allowed' : 'denied'}${r.delivered ? '' : ' (the agent gets it when it reconnects)'}`)
      } catch (err) {
        toast(err instanceof ApiError && err.code === 'already_decided' ? err.message : `Could not decide: ${(err as Error).message}`, 'error')
      } finally {
        button.disabled = false
        load()
      }
    }
    const allow = h('button', { type: 'button', class: 'allow' }, 'Allow')
    const deny = h('button', { type: 'button', class: 'deny' }, 'Deny')
    allow.addEventListener('click', () => { decide('allow', allow) })
    deny.addEventListener('click', () => { decide('deny', deny) })
    item.append(h('div', { class: 'decide' },
      h('label', { for: reasonId }, 'Reason for a denial (optional)'), reason,
      h('div', { class: 'buttons' }, allow, deny)))
    return item
  }

  const interval = window.setInterval(() => { load() }, 3000)

  return {
    section,
    load,
    live (state) {
      if (state === 'live') load()
    },
    event (e) {
      if (e.event_type.startsWith('permission_')) load()
    },
    dispose () {
      disposed = true
      window.clearInterval(interval)
    }
  }
}
