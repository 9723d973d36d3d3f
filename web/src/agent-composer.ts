// The operator's controls on an agent's page: send a prompt (Ctrl+Enter), interrupt, clear the context, and for an
// agent a runner started, stop and resume it. A server
// without the interrupt route loses that button.
import { api, isMissingRoute } from './api.js'
import { h, toast } from './dom.js'
import type { AgentRun, ClearContext, ControlOutcome } from '../../src/client/index.js'

/** `sent` is called once a prompt is accepted. */
export function agentComposer (agentId: string, path: string, sent: () => void): HTMLElement {
  const text = h('textarea', { id: 'prompt', rows: 2, placeholder: 'Send a prompt…', required: true })
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send')
  const interrupt = h('button', { type: 'button' }, 'Interrupt')
  const clearButton = h('button', { type: 'button' }, 'Clear context')
  // an agent a runner started: stop its CLI, or start it again on its Claude session
  const stopButton = h('button', { type: 'button', class: 'run-stop' }, 'Stop')
  const resumeButton = h('button', { type: 'button', class: 'run-resume' }, 'Resume')
  const form = h('form', { class: 'composer', 'aria-label': 'Operator controls' },
    h('label', { for: 'prompt', class: 'visually-hidden' }, `Prompt for ${agentId}`),
    text,
    h('div', { class: 'buttons' }, send, interrupt, clearButton, stopButton, resumeButton))
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
      sent()
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
  stopButton.addEventListener('click', () => {
    if (!window.confirm(`Stop ${agentId}? Its CLI ends; Resume starts it again on the same Claude session.`)) return
    busy(stopButton, async () => {
      const r = await api<AgentRun>(`${path}/stop`, { method: 'POST', body: {} })
      toast(`Stopped ${r.agent_id} on ${r.runner}`)
    })
  })
  resumeButton.addEventListener('click', () => {
    busy(resumeButton, async () => {
      const r = await api<AgentRun>(`${path}/resume`, { method: 'POST', body: {} })
      toast(`Resumed ${r.agent_id} on ${r.runner} in ${r.cwd}`)
    })
  })
  return form
}
