// Follows an SSE endpoint with fetch (so it can send the token as a header and catch every event name, which
// EventSource cannot): reconnects with backoff (asking again from where the caller says it is), notices a silent
// connection by the missing heartbeats, and gives up only when the server refuses. ./sse.js is the client's parser
// (src/client/sse.ts), compiled beside the viewer's modules.
import { authHeaders } from './api.js'
import { SseParser, type SseMessage } from './sse.js'

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'failed'

export interface StreamOptions {
  /** The URL to (re)connect to; asked on every attempt, so it can resume after the last event received. */
  url: () => string
  onMessage: (message: SseMessage) => void
  onState?: (state: StreamState, detail?: string) => void
  /** Nothing at all (not even a heartbeat) for this long means the connection is dead. */
  silenceMs?: number
}

export interface Stream {
  close: () => void
}

export function follow (opts: StreamOptions): Stream {
  let stopped = false
  let controller: AbortController | null = null
  const silenceMs = opts.silenceMs ?? 45000
  const state = (s: StreamState, detail?: string): void => { if (!stopped) opts.onState?.(s, detail) }

  async function once (): Promise<'retry' | 'stop'> {
    controller = new AbortController()
    const current = controller
    let watchdog = window.setTimeout(() => current.abort(), silenceMs)
    try {
      const res = await fetch(opts.url(), { headers: { ...authHeaders(), accept: 'text/event-stream' }, signal: current.signal })
      if (res.status === 401 || res.status === 403 || res.status === 404 || res.status === 400) {
        let message = `${res.status}`
        try { message = ((await res.json()) as { message?: string }).message ?? message } catch {}
        state('failed', message)
        return 'stop'
      }
      if (!res.ok || res.body === null) return 'retry'
      state('live')
      const parser = new SseParser()
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done || stopped) break
        window.clearTimeout(watchdog)
        watchdog = window.setTimeout(() => current.abort(), silenceMs)
        for (const m of parser.push(value)) {
          if (stopped) break
          opts.onMessage(m)
        }
      }
      return 'retry'
    } catch {
      return 'retry'
    } finally {
      window.clearTimeout(watchdog)
    }
  }

  async function run (): Promise<void> {
    let delay = 250
    state('connecting')
    for (;;) {
      const started = Date.now()
      if (await once() === 'stop') return
      if (stopped) return
      // a connection that lasted a while was healthy: start the backoff again
      if (Date.now() - started > 10000) delay = 250
      state('reconnecting')
      await new Promise(resolve => window.setTimeout(resolve, delay * (0.75 + Math.random() / 2)))
      if (stopped) return
      delay = Math.min(delay * 2, 5000)
    }
  }
  run().catch(() => state('failed'))

  return {
    close () {
      stopped = true
      controller?.abort()
    }
  }
}
