// An agent's log followed live once it shows the newest events: the stream asks for what comes after the newest
// event shown, on every (re)connect, so nothing is missed and nothing shown twice; one DOM update per chunk.
import type { AgentLog } from './agent-log.js'
import { follow, type Stream, type StreamState } from './stream.js'
import type { StoredEvent } from '../../src/client/index.js'

export interface LiveHandlers {
  state: (state: StreamState, detail?: string) => void
  /** Each event as it arrives, before the log shows it. */
  event: (e: StoredEvent) => void
}

export interface AgentLive {
  /** Starts following (once; later calls do nothing). */
  start: () => void
  dispose: () => void
}

export function agentLive (path: string, log: Pick<AgentLog, 'newest' | 'append'>, on: LiveHandlers): AgentLive {
  let stream: Stream | null = null
  let disposed = false
  let queued: StoredEvent[] = []
  let flushTimer: number | undefined

  function start (): void {
    if (stream !== null || disposed) return
    stream = follow({
      url: () => `${path}/events/stream?after=${log.newest() ?? 0}`,
      onState: on.state,
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
        on.event(e)
        if (flushTimer === undefined) {
          flushTimer = window.setTimeout(() => {
            flushTimer = undefined
            const batch = queued
            queued = []
            log.append(batch)
          }, 0)
        }
      }
    })
  }

  return {
    start,
    dispose () {
      disposed = true
      stream?.close()
      window.clearTimeout(flushTimer)
    }
  }
}
