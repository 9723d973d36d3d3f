// The agents list: who is connected, their current session, last activity and cost; kept fresh by the global
// stream's connect/disconnect notices and turn results.
import { api } from './api.js'
import { clear, h } from './dom.js'
import { formatCost, relativeTime } from './format.js'
import { follow } from './stream.js'
import type { AgentSummary } from './types.js'
import type { View } from './view.js'

export function agentsView (main: HTMLElement): View {
  let agents: AgentSummary[] = []
  const list = h('ul', { class: 'agents', 'aria-label': 'Agents' })
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading agents…')
  clear(main)
  main.append(h('h1', {}, 'Agents'), status, list)

  function draw (): void {
    clear(list)
    status.textContent = agents.length === 0 ? 'No agent has connected yet.' : `${agents.filter(a => a.connected).length} of ${agents.length} connected`
    const now = Date.now()
    for (const a of agents) {
      list.append(h('li', {},
        h('a', { class: 'agent-card', href: `#/agent/${encodeURIComponent(a.agent_id)}`, 'data-agent': a.agent_id },
          h('span', { class: 'agent-name' }, a.agent_id),
          h('span', { class: `badge ${a.connected ? 'on' : 'off'}` }, a.connected ? 'connected' : 'offline'),
          h('span', { class: 'facts' },
            h('span', {}, `session ${a.current_session}`),
            h('span', { title: a.last_seen_at ?? '' }, `active ${relativeTime(a.last_seen_at, now)}`),
            h('span', {}, `${a.event_count.toLocaleString('en-US')} event${a.event_count === 1 ? '' : 's'}`),
            h('span', { class: 'cost' }, formatCost(a.cost_usd))))))
    }
  }

  async function load (): Promise<void> {
    try {
      agents = (await api<{ agents: AgentSummary[] }>('agents')).agents
      draw()
    } catch (err) {
      status.textContent = `Could not load the agents: ${(err as Error).message}`
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
    url: () => 'stream?after=latest&type=result,prompt_sent,context_cleared,activity_changed',
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
