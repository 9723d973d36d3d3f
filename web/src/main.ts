// The viewer's entry: asks for a token when the server wants one, then routes #/ (agents), #/agent/ID[/SEQ]
// (a log, opened at SEQ), #/search/QUERY and #/usage[/DAYS].
import { api, ApiError, isMissingRoute, token, whenUnauthorized, whoami } from './api.js'
import { agentView } from './agent.js'
import { agentsView } from './agents.js'
import { clear, h } from './dom.js'
import { loadMarkdown } from './markdown.js'
import { searchView } from './search.js'
import { PERIODS, usageView } from './usage.js'
import type { Identity } from '../../src/client/index.js'
import type { Capabilities, View } from './view.js'

const main = document.getElementById('main') as HTMLElement
const who = document.getElementById('who') as HTMLElement
const searchForm = document.getElementById('search') as HTMLFormElement
const searchInput = document.getElementById('q') as HTMLInputElement
const nav = document.getElementById('nav') as HTMLElement

let current: View | null = null
let caps: Capabilities | null = null

function show (make: () => View): void {
  current?.dispose()
  current = null
  current = make()
}

function route (): void {
  if (caps === null) return
  const hash = location.hash
  if (hash === '#main') return // the skip link
  const parts = hash.replace(/^#\/?/, '').split('/')
  const c = caps
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === `#/${parts[0] === 'usage' ? 'usage' : ''}` && parts[0] !== 'search' && parts[0] !== 'agent') link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
  if (parts[0] === 'agent' && parts[1] !== undefined && parts[1] !== '') {
    const id = decodeURIComponent(parts[1])
    const seq = parts[2] !== undefined && /^\d{1,15}$/.test(parts[2]) ? Number(parts[2]) : null
    document.title = `${id} · agentlog`
    show(() => agentView(main, id, seq, c))
  } else if (parts[0] === 'search' && parts[1] !== undefined) {
    const q = decodeURIComponent(parts.slice(1).join('/'))
    searchInput.value = q
    document.title = `Search: ${q} · agentlog`
    show(() => searchView(main, q))
  } else if (parts[0] === 'usage') {
    const days = PERIODS.find(n => String(n) === parts[1]) ?? 30
    document.title = 'Usage · agentlog'
    show(() => usageView(main, days))
  } else {
    document.title = 'agentlog'
    show(() => agentsView(main, c))
  }
}

function showWho (w: Identity): void {
  clear(who)
  if (!w.access_control) return
  const forget = h('button', { type: 'button', class: 'link' }, 'Forget token')
  forget.addEventListener('click', () => {
    token.clear()
    start()
  })
  who.append(h('span', { class: 'role' }, w.role ?? ''), ' ', forget)
}

function askToken (message: string | null): void {
  current?.dispose()
  current = null
  caps = null
  clear(who)
  searchForm.hidden = true
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'current-password', required: true, spellcheck: 'false' })
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '')
  const form = h('form', { class: 'token-form' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'This server needs an access token (a reader or operator token from AUTH_TOKENS). It is kept in this tab only.'),
    h('label', { for: 'token' }, 'Access token'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Continue'),
    error)
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    token.set(input.value.trim())
    start()
  })
  clear(main)
  main.append(form)
  input.focus()
}

async function probeSearch (): Promise<boolean> {
  try {
    await api('search?q=agentlog&limit=1')
    return true
  } catch (err) {
    // any answer but "no such route" (a 400 for the query, say) means search is there
    return !isMissingRoute(err)
  }
}

async function start (): Promise<void> {
  let w: Identity
  try {
    w = await whoami()
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const had = token.get() !== null
      token.clear()
      askToken(had ? 'That token was not accepted.' : null)
      return
    }
    if (err instanceof ApiError && err.status === 403) {
      askToken(err.message)
      return
    }
    clear(main)
    main.append(h('p', { class: 'error', role: 'alert' }, `The server did not answer: ${(err as Error).message}`))
    return
  }
  if (w.role === 'agent') {
    token.clear()
    askToken('An agent token cannot read the logs; use a reader or operator token.')
    return
  }
  caps = { who: w, operate: !w.access_control || w.role === 'operator' }
  showWho(w)
  searchForm.hidden = !(await probeSearch())
  route()
}

searchForm.addEventListener('submit', (ev) => {
  ev.preventDefault()
  const q = searchInput.value.trim()
  if (q !== '') location.hash = `#/search/${encodeURIComponent(q)}`
})
document.getElementById('skip')?.addEventListener('click', (ev) => {
  ev.preventDefault()
  main.focus()
})
window.addEventListener('hashchange', route)
whenUnauthorized(() => {
  if (caps === null) return
  token.clear()
  askToken('The server no longer accepts the token.')
})

await loadMarkdown().catch(() => {})
await start()
