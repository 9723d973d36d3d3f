// The runners (`agentlog runner`) on the agents page: each with its roots and agents, and, for an operator, the
// "New agent" form: a runner, a directory among its roots, a first prompt, a git worktree or not.
import { api, isMissingRoute } from './api.js'
import { clear, h, toast } from './dom.js'
import type { AgentRun, Runner, Runners } from '../../src/client/index.js'

export function runnersSection (operate: boolean): { element: HTMLElement, refresh: () => Promise<void> } {
  const list = h('ul', { class: 'runners', 'aria-label': 'Runners' })
  const formSlot = h('div', {})
  const element = h('section', { class: 'runners-section', 'aria-labelledby': 'runners-title', hidden: true },
    h('h2', { id: 'runners-title' }, 'Runners'), list, formSlot)
  let runners: Runner[] = []

  function draw (): void {
    clear(list)
    element.hidden = runners.length === 0
    for (const r of runners) {
      list.append(h('li', { class: 'runner', 'data-runner': r.name },
        h('span', { class: 'agent-name' }, r.name),
        h('span', { class: `badge ${r.connected ? 'on' : 'off'}` }, r.connected ? 'connected' : 'offline'),
        h('span', { class: 'facts' },
          h('span', {}, r.host),
          h('span', {}, r.roots.join(', ')),
          r.claude_version !== null ? h('span', {}, r.claude_version) : null),
        r.agents.length > 0
          ? h('span', { class: 'runner-agents' }, ...r.agents.map(id => h('a', { href: `#/agent/${encodeURIComponent(id)}` }, id)))
          : h('span', { class: 'muted' }, 'no agents')))
    }
    if (operate && formSlot.childElementCount === 0 && runners.some(r => r.connected)) formSlot.append(newAgentForm())
  }

  function newAgentForm (): HTMLElement {
    const runner = h('select', { id: 'new-runner', required: true })
    const root = h('select', { id: 'new-root', required: true })
    const sub = h('input', { id: 'new-dir', type: 'text', placeholder: 'sub/directory (optional)', spellcheck: 'false' })
    const prompt = h('textarea', { id: 'new-prompt', rows: 2, placeholder: 'First prompt (optional)' })
    const worktree = h('input', { id: 'new-worktree', type: 'checkbox' })
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Start agent')
    const fillRoots = (): void => {
      clear(root)
      for (const dir of runners.find(r => r.name === runner.value)?.roots ?? []) root.append(h('option', { value: dir }, dir))
    }
    for (const r of runners.filter(r => r.connected)) runner.append(h('option', { value: r.name }, r.name))
    runner.addEventListener('change', fillRoots)
    fillRoots()
    const form = h('form', { class: 'new-agent', 'aria-label': 'New agent' },
      h('h3', {}, 'New agent'),
      h('label', { for: 'new-runner' }, 'Runner'), runner,
      h('label', { for: 'new-root' }, 'Directory'), root,
      h('label', { for: 'new-dir', class: 'visually-hidden' }, 'Subdirectory'), sub,
      h('label', { for: 'new-prompt' }, 'First prompt'), prompt,
      h('label', { class: 'check' }, worktree, ' in a new git worktree'),
      submit)
    form.addEventListener('submit', (ev) => {
      ev.preventDefault()
      const dir = sub.value.trim().replace(/^\/+|\/+$/g, '')
      const cwd = dir === '' ? root.value : `${root.value.replace(/\/+$/, '')}/${dir}`
      const body: Record<string, unknown> = { cwd }
      if (prompt.value.trim() !== '') body.prompt = prompt.value
      if (worktree.checked) body.worktree = true
      submit.disabled = true
      api<AgentRun>(`runners/${encodeURIComponent(runner.value)}/agents`, { method: 'POST', body })
        .then((run) => {
          toast(`Started ${run.agent_id} on ${run.runner}`)
          location.hash = `#/agent/${encodeURIComponent(run.agent_id)}`
        }, (err: Error) => toast(err.message, 'error'))
        .finally(() => { submit.disabled = false })
    })
    return form
  }

  async function refresh (): Promise<void> {
    try {
      runners = (await api<Runners>('runners')).runners
      draw()
    } catch (err) {
      // an older server has no runners
      if (!isMissingRoute(err)) throw err
    }
  }

  return { element, refresh }
}
