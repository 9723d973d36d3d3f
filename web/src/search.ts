// Search results: each hit shows where it is (agent, session, type, time) and its snippet with the matched words
// marked; it opens the agent's log at that event.
import { api } from './api.js'
import { clear, h } from './dom.js'
import { clock } from './format.js'
import { highlightSegments } from './highlight.js'
import type { SearchHit, SearchResults } from '../../src/client/index.js'
import type { View } from './view.js'

export function snippetNode (hit: Pick<SearchHit, 'snippet' | 'highlights'>): HTMLElement {
  const p = h('p', { class: 'snippet' })
  for (const s of highlightSegments(String(hit.snippet ?? ''), Array.isArray(hit.highlights) ? hit.highlights : [])) {
    p.append(s.mark ? h('mark', {}, s.text) : document.createTextNode(s.text))
  }
  return p
}

export function searchView (main: HTMLElement, q: string): View {
  const controller = new AbortController()
  const results = h('ol', { class: 'hits', 'aria-label': 'Search results' })
  const status = h('p', { class: 'muted', role: 'status' }, 'Searching…')
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More results')
  clear(main)
  main.append(h('h1', {}, 'Search: ', h('q', {}, q)), status, results, more)
  let cursor: string | null = null
  let count = 0

  async function load (): Promise<void> {
    more.disabled = true
    try {
      const params = new URLSearchParams({ q, limit: '50' })
      if (cursor !== null) params.set('cursor', cursor)
      const page = await api<SearchResults>(`search?${params.toString()}`, { signal: controller.signal })
      for (const hit of page.hits) {
        count++
        results.append(h('li', {},
          h('a', { class: 'hit', href: `#/agent/${encodeURIComponent(hit.agent_id)}/${Number(hit.seq)}` },
            h('span', { class: 'hit-where' },
              h('span', { class: 'agent-name' }, hit.agent_id),
              h('span', {}, `session ${hit.session_number}`),
              h('span', {}, hit.event_type),
              h('time', { datetime: hit.created_at, title: hit.created_at }, `${hit.created_at.slice(0, 10)} ${clock(hit.created_at)}`)),
            snippetNode(hit))))
      }
      cursor = page.next_cursor
      status.textContent = count === 0 ? 'Nothing found.' : `${count} result${count === 1 ? '' : 's'}${cursor !== null ? ' so far' : ''}`
      more.hidden = cursor === null
    } catch (err) {
      if (controller.signal.aborted) return
      status.textContent = `Search failed: ${(err as Error).message}`
    } finally {
      more.disabled = false
    }
  }

  more.addEventListener('click', () => { load() })
  load()
  return { dispose: () => controller.abort() }
}
