// An agent's log on its page: the scrolling conversation, opened at the newest events or at one, with older pages
// loaded as one scrolls up and newer ones (when opened at an event) as one scrolls down, until it reaches the
// newest; at the bottom it stays there as it grows. Every event is shown once, in order (span.ts).
import { api, ApiError } from './api.js'
import { Conversation } from './conversation.js'
import { h } from './dom.js'
import { EMPTY_SPAN, grow, newerThan, olderThan, type Span } from './span.js'
import type { EventPageResult, StoredEvent } from '../../src/client/index.js'

const PAGE = 50

export interface AgentLog {
  /** The scrolling region. */
  scroller: HTMLElement
  /** Loads the first page and starts watching the edges. */
  open: () => Promise<void>
  /** Adds events after the newest shown (those already shown are left out). */
  append: (events: readonly StoredEvent[]) => void
  /** The newest seq shown; null while nothing is. */
  newest: () => number | null
  toBottom: () => void
  dispose: () => void
}

/**
 * `at`: the seq to open at, or null for the newest events. `reachedNewest` is called whenever the log holds the
 * newest events, from then on the live stream's to add.
 */
export function agentLog (agentId: string, path: string, at: number | null, reachedNewest: () => void): AgentLog {
  let disposed = false
  const conv = new Conversation(`Log of ${agentId}`)
  const top = h('p', { class: 'edge muted' }, 'Loading…')
  const bottom = h('p', { class: 'edge muted', hidden: true }, 'Loading newer events…')
  const scroller = h('div', { class: 'scroller', tabindex: 0, role: 'region', 'aria-label': `Log of ${agentId}` }, top, conv.list, bottom)

  let span: Span = EMPTY_SPAN
  let hasOlder = false
  let hasNewer = false
  let loadingOlder = false
  let loadingNewer = false

  const nearBottom = (): boolean => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80
  const visible = (el: HTMLElement): boolean => {
    if (el.hidden) return false
    const r = el.getBoundingClientRect()
    const s = scroller.getBoundingClientRect()
    return r.bottom >= s.top && r.top <= s.bottom
  }
  function edges (): void {
    top.textContent = hasOlder ? 'Loading older events…' : span.oldest === null ? 'Nothing logged yet.' : 'Start of the log'
    bottom.hidden = !hasNewer
  }

  // at the bottom, the log stays there as it grows or its box shrinks (the head wrapping, a phone's keyboard)
  let pinned = at === null
  scroller.addEventListener('scroll', () => { pinned = nearBottom() })
  const resize = new ResizeObserver(() => { if (pinned && !hasNewer) scroller.scrollTop = scroller.scrollHeight })
  resize.observe(scroller)
  resize.observe(conv.list)

  function append (events: readonly StoredEvent[]): void {
    const add = newerThan(span, events)
    if (add.length === 0) return
    const stick = pinned || nearBottom()
    conv.append(add)
    span = grow(span, add)
    edges()
    if (stick && !hasNewer) scroller.scrollTop = scroller.scrollHeight
  }

  async function loadOlder (): Promise<void> {
    if (loadingOlder || !hasOlder || span.oldest === null || disposed) return
    loadingOlder = true
    try {
      const page = await api<EventPageResult>(`${path}/events?order=desc&limit=${PAGE}&before=${span.oldest}`)
      if (disposed) return
      const add = olderThan(span, page.events)
      // keep what the reader is looking at in place while the older events push it down
      const height = scroller.scrollHeight
      conv.prepend(add)
      span = grow(span, add)
      hasOlder = page.has_more && add.length > 0
      scroller.scrollTop += scroller.scrollHeight - height
      edges()
    } catch (err) {
      top.textContent = `Could not load older events: ${(err as Error).message}`
    } finally {
      loadingOlder = false
    }
    if (hasOlder && visible(top)) loadOlder()
  }

  async function loadNewer (): Promise<void> {
    if (loadingNewer || !hasNewer || disposed) return
    loadingNewer = true
    try {
      const page = await api<EventPageResult>(`${path}/events?order=asc&limit=${PAGE}&after=${span.newest ?? 0}`)
      if (disposed) return
      append(page.events)
      hasNewer = page.has_more
      edges()
      if (!hasNewer) reachedNewest()
    } catch (err) {
      bottom.textContent = `Could not load newer events: ${(err as Error).message}`
    } finally {
      loadingNewer = false
    }
    if (hasNewer && visible(bottom)) loadNewer()
  }

  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue
      if (entry.target === top) loadOlder()
      else if (entry.target === bottom) loadNewer()
    }
  }, { root: scroller, rootMargin: '200px 0px' })

  async function open (): Promise<void> {
    try {
      const before = at === null ? '' : `&before=${at + 1}`
      const page = await api<EventPageResult>(`${path}/events?order=desc&limit=${PAGE}${before}`)
      if (disposed) return
      append(page.events)
      hasOlder = page.has_more
      hasNewer = at !== null && page.latest_seq > (span.newest ?? 0)
      edges()
      if (at === null) {
        scroller.scrollTop = scroller.scrollHeight
      } else {
        const target = findAt(at)
        if (target !== null) {
          target.classList.add('target')
          target.scrollIntoView({ block: 'center' })
          target.setAttribute('tabindex', '-1')
          target.focus({ preventScroll: true })
        }
      }
      if (!hasNewer) reachedNewest()
      observer.observe(top)
      observer.observe(bottom)
    } catch (err) {
      if (err instanceof ApiError && err.code === 'agent_not_found') return // the head says so
      top.textContent = `Could not load the log: ${(err as Error).message}`
    }
  }

  /** The element of the event at `seq`, or of the nearest one before it that is shown. */
  function findAt (seq: number): HTMLElement | null {
    let best: HTMLElement | null = null
    for (const el of conv.list.querySelectorAll<HTMLElement>('[data-seq]')) {
      const s = Number(el.dataset.seq)
      if (s <= seq && (best === null || s > Number(best.dataset.seq))) best = el
    }
    return best
  }

  return {
    scroller,
    open,
    append,
    newest: () => span.newest,
    toBottom () { scroller.scrollTop = scroller.scrollHeight },
    dispose () {
      disposed = true
      resize.disconnect()
      observer.disconnect()
    }
  }
}
