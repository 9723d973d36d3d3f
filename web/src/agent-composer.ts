// The operator's controls on an agent's page: send a prompt (Ctrl+Enter), interrupt, clear the context. A server
// without the interrupt route loses that button.
import { api, isMissingRoute } from './api.js'
import { h, toast } from './dom.js'
import type { ClearContext, ControlOutcome } from '../../src/client/index.js'

/** `sent` is called once a prompt is accepted. */
export function agentComposer (agentId: string, path: string, sent: () => void): HTMLElement {
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
  return form
}
