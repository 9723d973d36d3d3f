// One agent: its state and sessions, pending approvals, and its log as a conversation that loads older pages
// as one scrolls up and follows the live stream at the bottom; the operator's controls when the token has them.
import { agentPath, api, ApiError, isMissingRoute } from './api.js'
import { Conversation } from './conversation.js'
import { clear, h, toast } from './dom.js'
import { formatCost, formatCount, relativeTime } from './format.js'
import { EMPTY_SPAN, grow, newerThan, olderThan, type Span } from './span.js'
import { follow, type Stream } from './stream.js'
import type { AgentListResult, Approval, Approvals, ClearContext, ControlOutcome, Decision, DecisionOutcome, EventPageResult, Sessions, StoredEvent } from '../../src/client/index.js'
import type { Capabilities, View } from './view.js'

const PAGE = 50

function pretty (value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? 'null'
  } catch {
    return String(value)
  }
}

export function agentView (main: HTMLElement, agentId: string, at: number | null, caps: Capabilities): View {
  const path = agentPath(agentId)
  const disposers: Array<() => void> = []
  let disposed = false

  // ---- layout ----
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
  const approvalsList = h('ul', { class: 'approvals-list' })
  const approvals = h('section', { class: 'approvals', 'aria-labelledby': 'approvals-title', hidden: true },
    h('h2', { id: 'approvals-title' }, 'Pending tool requests'), approvalsList)
  const conv = new Conversation(`Log of ${agentId}`)
  const top = h('p', { class: 'edge muted' }, 'Loading…')
  const bottom = h('p', { class: 'edge muted', hidden: true }, 'Loading newer events…')
  const scroller = h('div', { class: 'scroller', tabindex: 0, role: 'region', 'aria-label': `Log of ${agentId}` }, top, conv.list, bottom)

  clear(main)
  document.body.classList.add('agent-page')
  disposers.push(() => document.body.classList.remove('agent-page'))
  main.append(
    h('div', { class: 'agent-head' },
      h('a', { href: '#/', class: 'back' }, '← Agents'),
      h('h1', {}, agentId), badge, activity, facts, liveState),
    sessions, approvals, scroller)
  if (caps.operate) main.append(composer())

  // ---- head: summary and sessions ----
  async function loadHead (): Promise<void> {
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
      if (err instanceof ApiError && err.code === 'agent_not_found') {
        clear(main)
        main.append(h('h1', {}, agentId), h('p', {}, 'No such agent.'), h('a', { href: '#/' }, '← Agents'))
        dispose()
      }
    }
  }
  let headTimer: number | undefined
  const refreshHead = (): void => {
    if (headTimer !== undefined) return
    headTimer = window.setTimeout(() => { headTimer = undefined; loadHead() }, 300)
  }
  disposers.push(() => window.clearTimeout(headTimer))
  const headInterval = window.setInterval(refreshHead, 15000)
  disposers.push(() => window.clearInterval(headInterval))

  // ---- approvals ----
  let approvalsSupported = true
  async function loadApprovals (): Promise<void> {
    if (!approvalsSupported) return
    try {
      const { approvals: pending } = await api<Approvals>(`approvals?agent=${encodeURIComponent(agentId)}`)
      if (disposed) return
      approvals.hidden = pending.length === 0
      approvalsList.replaceChildren(...pending.map(approvalCard))
    } catch (err) {
      if (isMissingRoute(err)) {
        approvalsSupported = false
        approvals.hidden = true
      }
    }
  }
  function approvalCard (a: Approval): HTMLElement {
    const reasonId = `reason-${a.request_id}`
    const card = h('li', { class: 'approval', 'data-request': a.request_id },
      h('h3', {}, h('span', { class: 'tool-name' }, a.tool_name), ' ',
        h('span', { class: 'muted small' }, `requested ${relativeTime(a.requested_at, Date.now())}`),
        a.seq !== null ? [' · ', h('a', { class: 'small', href: `#/agent/${encodeURIComponent(agentId)}/${a.seq}` }, 'in the log')] : null),
      a.rule !== null
        ? h('p', { class: 'muted small' }, `Asked by ${a.rule.id}: ${a.rule.tool}${a.rule.input !== null ? ` ${a.rule.input}` : ''}`)
        : h('p', { class: 'muted small' }, 'Asked by the policy default'),
      h('pre', { class: 'block', tabindex: 0 }, pretty(a.input)))
    if (!caps.operate) return card
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
        loadApprovals()
      }
    }
    const allow = h('button', { type: 'button', class: 'allow' }, 'Allow')
    const deny = h('button', { type: 'button', class: 'deny' }, 'Deny')
    allow.addEventListener('click', () => { decide('allow', allow) })
    deny.addEventListener('click', () => { decide('deny', deny) })
    card.append(h('div', { class: 'decide' },
      h('label', { for: reasonId }, 'Reason for a denial (optional)'), reason,
      h('div', { class: 'buttons' }, allow, deny)))
    return card
  }
  const approvalsInterval = window.setInterval(() => { loadApprovals() }, 3000)
  disposers.push(() => window.clearInterval(approvalsInterval))

  // ---- the log ----
  let span: Span = EMPTY_SPAN
  let hasOlder = false
  let hasNewer = false
  let loadingOlder = false
  let loadingNewer = false
  let stream: Stream | null = null
  disposers.push(() => stream?.close())

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
  disposers.push(() => resize.disconnect())

  function appendEvents (events: readonly StoredEvent[]): void {
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
      appendEvents(page.events)
      hasNewer = page.has_more
      edges()
      if (!hasNewer) startFollowing()
    } catch (err) {
      bottom.textContent = `Could not load newer events: ${(err as Error).message}`
    } finally {
      loadingNewer = false
    }
    if (hasNewer && visible(bottom)) loadNewer()
  }

  let queued: StoredEvent[] = []
  let flushTimer: number | undefined
  disposers.push(() => window.clearTimeout(flushTimer))
  function startFollowing (): void {
    if (stream !== null) return
    stream = follow({
      // after the newest event shown, on every (re)connect: no gap, and the span drops anything seen twice
      url: () => `${path}/events/stream?after=${span.newest ?? 0}`,
      onState: (s, detail) => {
        liveState.textContent = s === 'live' ? '● live' : s === 'failed' ? `not following: ${detail ?? ''}` : 'reconnecting…'
        liveState.className = `live-state ${s === 'live' ? 'ok' : 'muted'}`
        if (s === 'live') { refreshHead(); loadApprovals() }
      },
      onMessage: (m) => {
        if (m.id === undefined) return // markers: caught_up, truncated, shutdown
        let e: StoredEvent
        try {
          e = JSON.parse(m.data) as StoredEvent
        } catch {
          return
        }
        if (typeof e.seq !== 'number') return
        queued.push(e)
        if (e.event_type === 'activity_changed') {
          const state = (e.metadata as { state?: string } | null)?.state
          activity.textContent = state === 'busy' ? 'working…' : state === 'idle' ? 'idle' : ''
        }
        if (['result', 'context_cleared', 'context_clear_outcome', 'prompt_sent'].includes(e.event_type)) refreshHead()
        if (e.event_type.startsWith('permission_')) loadApprovals()
        // one DOM update per chunk of the stream
        if (flushTimer === undefined) {
          flushTimer = window.setTimeout(() => {
            flushTimer = undefined
            const batch = queued
            queued = []
            appendEvents(batch)
          }, 0)
        }
      }
    })
  }

  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue
      if (entry.target === top) loadOlder()
      else if (entry.target === bottom) loadNewer()
    }
  }, { root: scroller, rootMargin: '200px 0px' })
  disposers.push(() => observer.disconnect())

  async function open (): Promise<void> {
    try {
      const before = at === null ? '' : `&before=${at + 1}`
      const page = await api<EventPageResult>(`${path}/events?order=desc&limit=${PAGE}${before}`)
      if (disposed) return
      appendEvents(page.events)
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
      if (!hasNewer) startFollowing()
      observer.observe(top)
      observer.observe(bottom)
    } catch (err) {
      if (err instanceof ApiError && err.code === 'agent_not_found') return // loadHead says so
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

  // ---- operator controls ----
  function composer (): HTMLElement {
    const text = h('textarea', { id: 'prompt', rows: 2, placeholder: 'Send a prompt…', required: true })
    const send = h('button', { type: 'submit', class: 'primary' }, 'Send')
    const interrupt = h('button', { type: 'button' }, 'Interrupt')
    const clearButton = h('button', { type: 'button' }, 'Clear context')
    const form = h('form', { class: 'composer', 'aria-label': 'Operator controls' },
      h('label', { for: 'prompt', class: 'visually-hidden' }, `Prompt for ${agentId}`),
      text,
      h('div', { class: 'buttons' }, send, interrupt, clearButton))
    const busy = async (button: HTMLButtonElement, work: () => Promise<void>): Promise<void> => {
      button.disabled = true
      try {
        await work()
      } catch (err) {
        toast((err as Error).message, 'error')
      } finally {
        button.disabled = false
      }
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault()
      const content = text.value
      if (content.trim() === '') return
      busy(send, async () => {
        await api(`${path}/messages`, { method: 'POST', body: { content } })
        text.value = ''
        scroller.scrollTop = scroller.scrollHeight
      })
    })
    text.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) form.requestSubmit()
    })
    interrupt.addEventListener('click', () => {
      busy(interrupt, async () => {
        try {
          const r = await api<ControlOutcome>(`${path}/interrupt`, { method: 'POST' })
          toast(r.outcome === 'success' ? 'Interrupted' : 'Interrupt sent; the agent has not confirmed it yet')
        } catch (err) {
          if (!isMissingRoute(err)) throw err
          interrupt.hidden = true
          toast('This server cannot interrupt agents', 'error')
        }
      })
    })
    clearButton.addEventListener('click', () => {
      if (!window.confirm(`Clear the context of ${agentId}? The agent starts a new session.`)) return
      busy(clearButton, async () => {
        const r = await api<ClearContext>(`${path}/clear-context`, { method: 'POST', body: {} })
        toast(`Session ${r.session_number} started (agent: ${r.agent_context.replace('_', ' ')})`)
      })
    })
    return form
  }

  function dispose (): void {
    if (disposed) return
    disposed = true
    for (const d of disposers) d()
  }

  loadHead()
  loadApprovals()
  open()
  return { dispose }
}
