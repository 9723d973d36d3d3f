// Tells a person that a tool call waits for them: one POST per request to APPROVAL_WEBHOOK_URL, retried with
// backoff in the background. Nothing here ever holds up the agent.
import { inputSubject } from './policy.js'

export interface ApprovalNotice {
  agent_id: string
  request_id: string
  tool_name: string
  /** A short, one-line summary of the input (the Bash command, the file path…). */
  summary: string
  /** POST here with {"behavior": "allow" | "deny"} to decide. */
  decide_url: string
  requested_at: string
}

export type WebhookFormat = 'json' | 'slack' | 'ntfy'

const SUMMARY_MAX = 200

/** `mask` hides secrets before the cut: a key cut short (a private key block without its END line) no longer looks like one. */
export function inputSummary (toolName: string, input: unknown, mask: (text: string) => string = text => text): string {
  const text = mask(inputSubject(toolName, input) ?? JSON.stringify(input ?? {})).replace(/\s+/g, ' ').trim()
  return text.length > SUMMARY_MAX ? text.slice(0, SUMMARY_MAX - 1) + '…' : text
}

function noticeText (n: ApprovalNotice): string {
  return `Agent ${n.agent_id} wants to run ${n.tool_name}: ${n.summary}`
}

function curl (n: ApprovalNotice, behavior: 'allow' | 'deny'): string {
  return `curl -X POST ${n.decide_url} -H 'content-type: application/json' -d '{"behavior":"${behavior}"}'`
}

/** The request for one notice, shaped for the receiver. */
export function webhookRequest (url: string, format: WebhookFormat, n: ApprovalNotice): { url: string, body: Record<string, unknown> } {
  const text = noticeText(n)
  if (format === 'slack') {
    return { url, body: { text: `${text}\nAllow: \`${curl(n, 'allow')}\`\nDeny: \`${curl(n, 'deny')}\`` } }
  }
  if (format === 'ntfy') {
    // ntfy takes JSON at the server's root, with the topic in the body; its http actions are the phone's buttons
    const parsed = new URL(url)
    const topic = parsed.pathname.replace(/^\/+|\/+$/g, '')
    const action = (label: string, behavior: 'allow' | 'deny') => ({
      action: 'http', label, url: n.decide_url, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ behavior }), clear: true
    })
    return {
      url: `${parsed.origin}/`,
      body: {
        topic,
        title: `${n.agent_id}: approve ${n.tool_name}?`,
        message: n.summary,
        tags: ['robot'],
        actions: [action('Allow', 'allow'), action('Deny', 'deny')]
      }
    }
  }
  return { url, body: { ...n, text } }
}

export interface NotifierOptions {
  url: string
  format: WebhookFormat
  log: { warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void }
  /** Attempts in all (the first one included). */
  attempts?: number
  /** Wait before the second attempt; doubled each time, up to maxBackoffMs. */
  backoffMs?: number
  maxBackoffMs?: number
  /** One attempt's time limit. */
  timeoutMs?: number
}

export function createNotifier (opts: NotifierOptions) {
  const attempts = opts.attempts ?? 6
  const backoffMs = opts.backoffMs ?? 1000
  const maxBackoffMs = opts.maxBackoffMs ?? 60000
  const timeoutMs = opts.timeoutMs ?? 10000
  const controller = new AbortController()
  const inFlight = new Set<Promise<void>>()

  async function attempt (target: { url: string, body: Record<string, unknown> }): Promise<string | null> {
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(target.body),
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)])
      })
      await res.body?.cancel()
      return res.ok ? null : `HTTP ${res.status}`
    } catch (err) {
      return (err as Error).message
    }
  }

  function wait (ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (controller.signal.aborted) { resolve(); return }
      const timer = setTimeout(done, ms)
      function done (): void {
        clearTimeout(timer)
        controller.signal.removeEventListener('abort', done)
        resolve()
      }
      controller.signal.addEventListener('abort', done, { once: true })
    })
  }

  async function deliver (target: { url: string, body: Record<string, unknown> }, requestId: string): Promise<void> {
    let delay = backoffMs
    for (let i = 1; i <= attempts; i++) {
      const error = await attempt(target)
      if (error === null) {
        opts.log.info({ requestId, attempt: i }, 'approval webhook delivered')
        return
      }
      if (controller.signal.aborted) return
      if (i === attempts) {
        opts.log.warn({ requestId, attempts, error }, 'approval webhook failed; giving up')
        return
      }
      opts.log.warn({ requestId, attempt: i, error, retryInMs: delay }, 'approval webhook failed; retrying')
      await wait(delay)
      if (controller.signal.aborted) return
      delay = Math.min(delay * 2, maxBackoffMs)
    }
  }

  function send (target: { url: string, body: Record<string, unknown> }, id: string): void {
    const p = deliver(target, id).finally(() => inFlight.delete(p))
    inFlight.add(p)
  }

  return {
    /** Starts delivering in the background and returns at once. */
    notify (notice: ApprovalNotice): void {
      send(webhookRequest(opts.url, opts.format, notice), notice.request_id)
    },
    /** Another notice through the same webhook (usage budgets), shaped by the caller; `id` names it in the log. */
    send,
    /** Stops retrying (on shutdown) and waits for attempts under way to end. */
    async close (): Promise<void> {
      controller.abort()
      await Promise.allSettled([...inFlight])
    }
  }
}

export type Notifier = ReturnType<typeof createNotifier>
