// The agents list: who is connected, their current session, last activity and cost; kept fresh by the global
// stream's connect/disconnect notices and turn results.
import { api, isMissingRoute } from './api.js'
import { clear, h } from './dom.js'
import { formatCost, relativeTime } from './format.js'
import { follow } from './stream.js'
import type { AgentListResult, AgentSummary, Approvals } from '../../src/client/index.js'
import type { Capabilities, View } from './view.js'
import { runnersSection } from './runners.js'

export function agentsView (main: HTMLElement, caps: Capabilities): View {
  let agents: AgentSummary[] = []
  /** Tool requests waiting for a person, per agent; null when this server has no approvals. */
  let waiting: Map<string, number> | null = new Map()
  const list = h('ul', { class: 'agents', 'aria-label': 'Agents' })
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading agents…')
  const runners = runnersSection(caps.operate)
  clear(main)
  main.append(h('h1', {}, 'Agents'), status, list, runners.element)

  function draw (): void {
    // the list is drawn anew: a card that had the keyboard focus gets it back, or Enter would open nothing
    const focused = document.activeElement instanceof HTMLElement && list.contains(document.activeElement)
      ? document.activeElement.closest('a.agent-card')?.getAttribute('data-agent') ?? null
      : null
    clear(list)
    status.textContent = agents.length === 0 ? 'No agent has connected yet.' : `${agents.filter(a => a.connected).length} of ${agents.length} connected`
    const now = Date.now()
    for (const a of agents) {
      list.append(h('li', {},
        h('a', { class: 'agent-card', href: `#/agent/${encodeURIComponent(a.agent_id)}`, 'data-agent': a.agent_id },
          h('span', { class: 'agent-name' }, a.agent_id),
          h('span', { class: 'badges' },
            (waiting?.get(a.agent_id) ?? 0) > 0 ? h('span', { class: 'badge ask' }, `${waiting?.get(a.agent_id) ?? 0} waiting for approval`) : null,
            h('span', { class: `badge ${a.connected ? 'on' : 'off'}` }, a.connected ? 'connected' : 'offline'),
            a.state !== null && a.state !== undefined ? h('span', { class: 'badge' }, `${a.state.replace('_', ' ')} · ${a.runner ?? ''}`) : null),
          h('span', { class: 'facts' },
            h('span', {}, `session ${a.current_session}`),
            h('span', { title: a.last_seen_at ?? '' }, `active ${relativeTime(a.last_seen_at, now)}`),
            h('span', {}, `${a.event_count.toLocaleString('en-US')} event${a.event_count === 1 ? '' : 's'}`),
            h('span', { class: 'cost' }, formatCost(a.cost_usd))))))
    }
    if (focused !== null) list.querySelector<HTMLElement>(`a.agent-card[data-agent="${CSS.escape(focused)}"]`)?.focus()
  }

  async function load (): Promise<void> {
    try {
      const [list, pending] = await Promise.all([api<AgentListResult>('agents'), loadWaiting(), runners.refresh().catch(() => {})])
      agents = list.agents
      waiting = pending
      draw()
    } catch (err) {
      status.textContent = `Could not load the agents: ${(err as Error).message}`
    }
  }

  async function loadWaiting (): Promise<Map<string, number> | null> {
    if (waiting === null) return null
    try {
      const { approvals } = await api<Approvals>('approvals')
      const counts = new Map<string, number>()
      for (const a of approvals) counts.set(a.agent_id, (counts.get(a.agent_id) ?? 0) + 1)
      return counts
    } catch (err) {
      return isMissingRoute(err) ? null : waiting
    }
  }

  let pending: number | undefined
  const refresh = (): void => {
    if (pending !== undefined) return
    pending = window.setTimeout(() => { pending = undefined; load() }, 300)
  }

  load()
  // only what changes the list: notices (connect/disconnect) always come; these types move activity and cost
  const stream = follow({
    url: () => 'stream?after=latest&type=result,prompt_sent,context_cleared,activity_changed,permission_requested,permission_decided',
    onMessage: refresh,
    onState: (s) => { if (s === 'live') refresh() }
  })
  // "5 min ago" ages
  const timer = window.setInterval(draw, 30000)

  return {
    dispose () {
      stream.close()
      window.clearInterval(timer)
      window.clearTimeout(pending)
    }
  }
}
