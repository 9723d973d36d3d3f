// The head of an agent's page: connected or not, what it is doing, its session, activity, cost and tokens, the
// state of the live stream, and the table of its sessions; reloaded when the log says they moved.
import { api, ApiError } from './api.js'
import { h } from './dom.js'
import { formatCost, formatCount, relativeTime } from './format.js'
import type { StreamState } from './stream.js'
import type { AgentListResult, Sessions, StoredEvent } from '../../src/client/index.js'

/** The events after which the summary or the sessions table reads differently. */
const MOVES_HEAD = ['result', 'context_cleared', 'context_clear_outcome', 'prompt_sent']

export interface AgentHead {
  /** The line with the agent's name, state and facts. */
  line: HTMLElement
  /** The sessions table, folded. */
  sessions: HTMLElement
  load: () => Promise<void>
  /** Loads again soon: several calls in a row make one request. */
  refresh: () => void
  /** The live stream's state, as the head shows it. */
  live: (state: StreamState, detail?: string) => void
  /** An event of the live stream: its activity, and whether the head moved. */
  event: (e: StoredEvent) => void
  dispose: () => void
}

/** `missing` is called when the server has no such agent. */
export function agentHead (agentId: string, path: string, missing: () => void): AgentHead {
  let disposed = false
  const badge = h('span', { class: 'badge off' }, '…')
  const activity = h('span', { class: 'activity muted' })
  const facts = h('span', { class: 'facts' })
  const liveState = h('span', { class: 'live-state muted', role: 'status' }, '')
  const sessionsBody = h('tbody')
  const sessionsSummary = h('summary', {}, 'Sessions')
  const sessions = h('details', { class: 'sessions' }, sessionsSummary,
    h('div', { class: 'table-wrap', tabindex: 0 },
      h('table', {},
        h('caption', { class: 'visually-hidden' }, `Sessions of ${agentId}`),
        h('thead', {}, h('tr', {}, ...['Session', 'Events', 'Cost', 'Tokens in', 'Tokens out', 'Started', 'Last'].map(t => h('th', { scope: 'col' }, t)))),
        sessionsBody)))
  const line = h('div', { class: 'agent-head' },
    h('a', { href: '#/', class: 'back' }, '← Agents'),
    h('h1', {}, agentId), badge, activity, facts, liveState)

  async function load (): Promise<void> {
    try {
      const [list, s] = await Promise.all([api<AgentListResult>('agents'), api<Sessions>(`${path}/sessions`)])
      if (disposed) return
      const a = list.agents.find(x => x.agent_id === agentId)
      if (a !== undefined) {
        badge.className = `badge ${a.connected ? 'on' : 'off'}`
        badge.textContent = a.connected ? 'connected' : 'offline'
        facts.replaceChildren(
          h('span', {}, `session ${a.current_session}`),
          h('span', { title: a.last_seen_at ?? '' }, `active ${relativeTime(a.last_seen_at, Date.now())}`),
          h('span', { class: 'cost' }, formatCost(a.cost_usd)),
          h('span', {}, `${formatCount(a.input_tokens)} in / ${formatCount(a.output_tokens)} out tokens`))
      }
      sessionsSummary.textContent = `Sessions (${s.sessions.length})`
      sessionsBody.replaceChildren(...[...s.sessions].reverse().map(x => h('tr', {},
        h('th', { scope: 'row' }, x.first_seq === null
          ? String(x.session_number)
          : h('a', { href: `#/agent/${encodeURIComponent(agentId)}/${x.first_seq}` }, String(x.session_number)),
        x.session_number === s.current_session ? ' (current)' : ''),
        h('td', {}, formatCount(x.event_count)),
        h('td', {}, formatCost(x.cost_usd)),
        h('td', {}, formatCount(x.input_tokens)),
        h('td', {}, formatCount(x.output_tokens)),
        h('td', { title: x.started_at }, relativeTime(x.started_at, Date.now())),
        h('td', { title: x.ended_at }, relativeTime(x.ended_at, Date.now())))))
    } catch (err) {
      if (err instanceof ApiError && err.code === 'agent_not_found') missing()
    }
  }

  let timer: number | undefined
  const refresh = (): void => {
    if (timer !== undefined) return
    timer = window.setTimeout(() => { timer = undefined; load() }, 300)
  }
  const interval = window.setInterval(refresh, 15000)

  return {
    line,
    sessions,
    load,
    refresh,
    live (state, detail) {
      liveState.textContent = state === 'live' ? '● live' : state === 'failed' ? `not following: ${detail ?? ''}` : 'reconnecting…'
      liveState.className = `live-state ${state === 'live' ? 'ok' : 'muted'}`
      if (state === 'live') refresh()
    },
    event (e) {
      if (e.event_type === 'activity_changed') {
        const state = (e.metadata as { state?: string } | null)?.state
        activity.textContent = state === 'busy' ? 'working…' : state === 'idle' ? 'idle' : ''
      }
      if (MOVES_HEAD.includes(e.event_type)) refresh()
    },
    dispose () {
      disposed = true
      window.clearTimeout(timer)
      window.clearInterval(interval)
    }
  }
}
