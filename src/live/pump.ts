// Each follower's loop: catch up from the log (or the recent window) whenever it is behind, then send what its
// buffer gathers, waiting on its transport when that is full. One loop per follower, until it is closed.
import type { FastifyBaseLogger } from 'fastify'
import type { StoredEvent } from '../schemas/events.js'
import { type FollowerState, fromPage, orderOf, unsent } from './follower.js'
import type { LiveMessage } from './messages.js'
import { PAGE } from './pages.js'
import type { Recent } from './recent.js'

/** What the live feed has done since the start; the tests and benchmarks read it. */
export interface LiveStats {
  fellBehind: number
  truncations: number
  delivered: number
  pagesFromMemory: number
  pagesFromDatabase: number
}

export interface PumpDeps {
  /** The window the follower can catch up from without a query, while one is kept. */
  recent: (f: FollowerState) => Recent | null
  /** The next page of the log after `after` for the follower's filters (see pages.ts). */
  read: (f: FollowerState, after: number) => Promise<StoredEvent[]>
  /** The caught_up marker, at the instant the catch-up reaches the head. */
  caughtUp: (f: FollowerState) => LiveMessage
  /** The follower has stopped (closed, or failed): it is forgotten. */
  stopped: (f: FollowerState) => void
  stats: LiveStats
  log: FastifyBaseLogger
}

export function createPump ({ recent, read, caughtUp, stopped, stats, log }: PumpDeps) {
  let running = 0

  function send (f: FollowerState, message: LiveMessage): boolean {
    if (message.kind === 'event') stats.delivered++
    else if (message.kind === 'run') stats.delivered += message.events.length
    return f.sink.write(message)
  }

  function drained (f: FollowerState): Promise<void> {
    return Promise.race([f.sink.drained(), f.gone])
  }

  async function pump (f: FollowerState): Promise<void> {
    running++
    try {
      while (!f.closed) {
        if (f.behind) {
          // everything dropped from here on is committed, so the reads below will find it
          f.behind = false
          f.buffer = []
          f.buffered = 0
          await catchUp(f)
          if (f.closed) break
          if (f.behind) continue
          if (!f.caughtUp) {
            // at this instant every committed event is either sent or in the buffer, so the marker goes last;
            // it says who is connected now, which covers every notice so far
            f.notices.clear()
            f.buffer.push(caughtUp(f))
          }
        }
        if (f.buffer.length === 0 && (f.notices.size === 0 || !f.caughtUp)) {
          await new Promise<void>((resolve) => { f.wake = resolve })
          continue
        }
        const pending = f.buffer
        f.buffer = []
        f.buffered = 0
        for (const m of pending) {
          if (f.closed || f.behind) break
          for (const { message, position } of unsent(m, f.position)) {
            if (f.closed || f.behind) break
            f.position = position
            if (message.kind === 'caught_up') f.caughtUp = true
            // the buffer keeps filling meanwhile; if it overflows, this follower reads from the database again
            if (!send(f, message)) await drained(f)
          }
        }
        if (f.caughtUp && !f.behind && !f.closed) {
          const notices = [...f.notices.values()]
          f.notices.clear()
          for (const data of notices) send(f, { kind: 'agent', data })
        }
        if (!f.closed && !f.sink.flush()) await drained(f)
      }
    } catch (err) {
      if (!f.closed) {
        log.warn({ err, agentId: f.scope === 'agent' ? f.agentId : undefined }, 'live stream failed; closing it')
        f.sink.abort()
      }
    } finally {
      running--
      stopped(f)
    }
  }

  async function catchUp (f: FollowerState): Promise<void> {
    for (;;) {
      const from = f.position
      let page = recent(f)?.after(from, PAGE) ?? null
      if (page !== null) {
        stats.pagesFromMemory++
      } else {
        stats.pagesFromDatabase++
        page = await read(f, from)
        if (f.closed) return
        if (f.scope === 'agent' && page.length > 0 && page[0].seq > from + 1 && !(f.fromStart && from === 0)) {
          // the first row is the oldest retained one (see agentPage): the events in between were pruned
          stats.truncations++
          if (!send(f, { kind: 'truncated', data: { oldest_seq: page[0].seq } })) {
            await drained(f)
            if (f.closed) return
          }
        }
      }
      if (page.length === 0) return
      // the page's events this follower takes, sent as one run (one write to its transport)
      const { run, position } = fromPage(f, page)
      f.position = position
      if (run.length > 0 && !send(f, { kind: 'run', events: run, by: orderOf(f) })) {
        await drained(f)
        if (f.closed) return
      }
      if (!f.sink.flush()) {
        await drained(f)
        if (f.closed) return
      }
      if (page.length < PAGE) return
      // SQLite reads never leave the event loop: let agents and other followers in between pages
      await new Promise(resolve => setImmediate(resolve))
      if (f.closed) return
    }
  }

  return {
    /** Runs the follower's loop until it is closed. */
    start (f: FollowerState): void {
      pump(f).catch((err: unknown) => log.error({ err }, 'live stream pump failed'))
    },
    /** Loops still running (a closed follower's may still be finishing a send). */
    get running (): number { return running }
  }
}
