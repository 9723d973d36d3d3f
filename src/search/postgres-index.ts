// PostgreSQL's full-text index follows the log (migration 0009): events commit first, then the index takes every
// event after search_state.indexed_through in transactions of its own. With several instances, whichever takes the
// transaction-level lock indexes; ids are handed out in commit order (src/cluster/), so a watermark misses nothing.
import { type Kysely, sql } from 'kysely'
import type { Database } from '../../db/schema.js'

/** Event ids indexed per transaction: large enough to be cheap, small enough to end soon. */
const SLICE = 5000
/** Commits elsewhere (other instances) are noticed this often; this instance's own commits at once. */
const POLL_MS = 250

const TYPES = sql.raw("('output', 'thinking', 'tool_use', 'tool_result', 'prompt_sent', 'result')")

export interface PostgresIndexerOptions {
  /** Names the lock, so that several deployments sharing one database do not wait on each other. */
  namespace: string
  onError: (err: unknown) => void
}

export function createPostgresIndexer (db: Kysely<Database>, opts: PostgresIndexerOptions) {
  const listeners = new Set<(through: number) => void>()
  const lockKey = `${opts.namespace}/search-index`
  let indexedThrough = 0
  let running: Promise<void> | null = null
  let again = false
  let stopped = false
  let timer: NodeJS.Timeout | null = null

  /** One slice; whether there is more to index now. */
  async function slice (): Promise<boolean> {
    return await db.transaction().execute(async (trx) => {
      const lock = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(hashtextextended(${lockKey}, 0)) as ok`.execute(trx)
      if (lock.rows[0]?.ok !== true) {
        // another instance is indexing: what it has done so far is all this one learns
        const state = await sql<{ through: string | number }>`select indexed_through as through from search_state`.execute(trx)
        indexedThrough = Number(state.rows[0]?.through ?? 0)
        return false
      }
      // one statement, one snapshot: the events up to the bound it reads are all there is to index below it
      const done = await sql<{ through: string | number, newest: string | number | null }>`
        with state as (select indexed_through as w from search_state),
        bound as (select least(coalesce((select max(id) from conversation_events), 0), (select w from state) + ${SLICE}) as hi),
        added as (
          insert into search_documents (id, document)
          select e.id, search_vector(e.event_type, e.content, e.metadata) from conversation_events e
          where e.id > (select w from state) and e.id <= (select hi from bound) and e.event_type in ${TYPES} and e.content is not null
          on conflict (id) do nothing
        )
        update search_state set indexed_through = greatest(indexed_through, (select hi from bound))
        returning indexed_through as through, (select max(id) from conversation_events) as newest`.execute(trx)
      const row = done.rows[0]
      indexedThrough = Number(row?.through ?? 0)
      return Number(row?.newest ?? 0) > indexedThrough
    })
  }

  async function catchUp (): Promise<void> {
    for (;;) {
      again = false
      for (;;) {
        if (stopped) return
        const more = await slice()
        for (const l of listeners) l(indexedThrough)
        if (!more) break
      }
      // committed again while the last slice ran
      if (!again) return
    }
  }

  function poll (): void {
    if (stopped) return
    timer = setTimeout(() => { timer = null; kick() }, POLL_MS)
    timer.unref()
  }

  /** Something was committed: index it (once the slice running now, if any, is done). */
  function kick (): void {
    if (stopped) return
    if (running !== null) {
      again = true
      return
    }
    if (timer !== null) clearTimeout(timer)
    timer = null
    running = catchUp()
      .catch((err: unknown) => { opts.onError(err) })
      .finally(() => { running = null; poll() })
  }

  return {
    kick,
    get indexedThrough (): number { return indexedThrough },
    onIndexed (listener: (through: number) => void): () => void {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    async stop (): Promise<void> {
      stopped = true
      if (timer !== null) clearTimeout(timer)
      await running
    }
  }
}

export type PostgresIndexer = ReturnType<typeof createPostgresIndexer>
