// The instance's own PostgreSQL connection, apart from the pool: it LISTENs for notices and holds the session
// advisory locks of the agents this instance owns, so they die with the instance (or with this connection).
// It reconnects by itself; `onUp` runs after every (re)connection, once it listens again.
import pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'

export interface LinkOptions {
  url: string
  schema: string | null
  /** How other instances see this one in pg_stat_activity: the instance is alive while this connection is. */
  applicationName: string
  channel: string
  onNotice: (payload: string | undefined) => void
  onUp: () => Promise<void>
  onDown: () => void
  log: FastifyBaseLogger
}

export interface Link {
  start: () => Promise<void>
  /** Runs a query on this connection; throws while it is down. */
  query: <R extends Record<string, unknown>>(text: string, values?: unknown[]) => Promise<R[]>
  readonly up: boolean
  close: () => Promise<void>
}

const MAX_BACKOFF_MS = 2000

export function createLink (opts: LinkOptions): Link {
  let client: pg.Client | null = null
  let up = false
  let closed = false
  let backoff = 0
  let timer: NodeJS.Timeout | null = null

  async function connect (): Promise<void> {
    const c = new pg.Client({ connectionString: opts.url, application_name: opts.applicationName })
    let lost = false
    const onLost = (err?: Error): void => {
      if (lost) return
      lost = true
      if (client === c) { client = null; up = false }
      c.removeAllListeners('notification')
      c.end().catch(() => {})
      if (closed) return
      opts.log.warn({ err }, 'instance connection to PostgreSQL lost; reconnecting')
      opts.onDown()
      reconnectLater()
    }
    c.on('error', onLost)
    c.on('end', () => onLost())
    c.on('notification', (m) => { if (m.channel === opts.channel) opts.onNotice(m.payload) })
    try {
      await c.connect()
      if (opts.schema !== null) await c.query(`set search_path to ${opts.schema}`)
      await c.query(`listen "${opts.channel}"`)
    } catch (err) {
      onLost(err as Error)
      throw err
    }
    client = c
    up = true
    backoff = 0
    await opts.onUp()
  }

  function reconnectLater (): void {
    if (closed || timer !== null) return
    backoff = Math.min(backoff === 0 ? 100 : backoff * 2, MAX_BACKOFF_MS)
    timer = setTimeout(() => {
      timer = null
      connect().catch(() => {})
    }, backoff)
  }

  return {
    start: connect,
    async query<R extends Record<string, unknown>> (text: string, values?: unknown[]): Promise<R[]> {
      if (client === null || !up) throw new Error('the instance connection to PostgreSQL is down')
      const res = await client.query(text, values)
      return res.rows as R[]
    },
    get up () { return up },
    async close () {
      closed = true
      if (timer !== null) clearTimeout(timer)
      const c = client
      client = null
      up = false
      if (c !== null) await c.end().catch(() => {})
    }
  }
}
