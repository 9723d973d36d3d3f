// One agent's page, composed of its parts: the head (state and sessions), the pending tool requests, the log (pages
// as one scrolls) followed live once it shows the newest events, and the operator's controls when the token has them.
import { agentApprovals } from './agent-approvals.js'
import { agentComposer } from './agent-composer.js'
import { agentHead } from './agent-head.js'
import { agentLive } from './agent-live.js'
import { agentLog } from './agent-log.js'
import { agentPath } from './api.js'
import { clear, h } from './dom.js'
import type { Capabilities, View } from './view.js'

export function agentView (main: HTMLElement, agentId: string, at: number | null, caps: Capabilities): View {
  const path = agentPath(agentId)
  let disposed = false

  const head = agentHead(agentId, path, () => {
    clear(main)
    main.append(h('h1', {}, agentId), h('p', {}, 'No such agent.'), h('a', { href: '#/' }, '← Agents'))
    dispose()
  })
  const approvals = agentApprovals(agentId, path, caps.operate)
  const log = agentLog(agentId, path, at, () => live.start())
  const live = agentLive(path, log, {
    state: (state, detail) => {
      head.live(state, detail)
      approvals.live(state)
    },
    event: (e) => {
      head.event(e)
      approvals.event(e)
    }
  })

  clear(main)
  document.body.classList.add('agent-page')
  main.append(head.line, head.sessions, approvals.section, log.scroller)
  if (caps.operate) main.append(agentComposer(agentId, path, () => log.toBottom()))

  function dispose (): void {
    if (disposed) return
    disposed = true
    document.body.classList.remove('agent-page')
    head.dispose()
    approvals.dispose()
    live.dispose()
    log.dispose()
  }

  head.load()
  approvals.load()
  log.open()
  return { dispose }
}
