// Where the log is searched: one query language (src/search/query.ts) over SQLite FTS5 or PostgreSQL tsvector.
//
// Ranking every match of a common word by relevance would read all of them; instead hits are ranked by relevance
// within windows of the newest matches (WINDOW at a time), newest first among equal scores, and the cursor walks
// from one window to the next older one. A word with fewer matches than a window is ranked over all of them.
// Relevance depends on the event alone (ts_rank on PostgreSQL, src/search/relevance.ts on SQLite, whose bm25()
// would count every match in the log to weigh the words): a window costs the same however long the log is.
import fp from 'fastify-plugin'
import { type Kysely, sql, type RawBuilder } from 'kysely'
import type SQLite from 'better-sqlite3'
import type { Dialect } from '../db/connect.js'
import type { Database } from '../db/schema.js'
import type { Static } from '@sinclair/typebox'
import type { SearchHit, SearchQueryType, SearchResult } from '../src/schemas/search.js'
import { parseQuery, QuerySyntaxError, toFts5, toTsquery } from '../src/search/query.js'
import { decodeCursor, encodeCursor, fingerprint, type SearchCursor } from '../src/search/cursor.js'
import { MARK_END, MARK_START, remark, SNIPPET_MAX, unmark } from '../src/search/snippet.js'
import { relevanceOfMarked } from '../src/search/relevance.js'
import { httpError } from '../src/errors.js'
import { createPostgresIndexer } from '../src/search/postgres-index.js'
import { parseTypes } from './history.js'
import { UNSCOPED, type SearchScope } from '../src/search/scope.js'

declare module 'fastify' {
  interface FastifyInstance { textSearch: Search }
}

/** How many of the newest matches are ranked together. */
export const WINDOW = 200
/** The SQLite function that scores a highlight()ed text; registered on the app's connection. */
const RELEVANCE_FN = 'agentlog_search_relevance'
/** Characters either side of a PostgreSQL excerpt that may be punctuation its parser left out. */
const CONTEXT = 8

interface Candidate {
  id: number
  score: number
  /** SQLite: the excerpt, taken with the score in the same pass over the index (PostgreSQL builds it in details()). */
  marked?: string | null
}

interface HitRow {
  id: string | number
  agent_id: string
  session_number: number
  seq: number
  event_type: string
  created_at: string
  /** The excerpt with its matches between MARK_START and MARK_END. */
  marked: string | null
}

function badQuery (message: string) {
  return httpError(400, message, 'bad_query')
}

function isoTime (name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const t = Date.parse(value)
  if (Number.isNaN(t)) throw httpError(400, `${name}: not an ISO-8601 time`, 'bad_parameter')
  return new Date(t).toISOString()
}

export function createSearch (db: Kysely<Database>, dialect: Dialect, sqlite: SQLite.Database | null, { window: windowSize = WINDOW }: { window?: number } = {}) {
  const postgres = dialect === 'postgres'
  sqlite?.function(RELEVANCE_FN, { deterministic: true }, (marked: unknown) => typeof marked === 'string' ? relevanceOfMarked(marked, MARK_START) : 0)

  function filters (p: { agent?: string, session?: number, types: string[] | null, after?: string, before?: string }, scope: SearchScope): RawBuilder<unknown> | null {
    const parts: Array<RawBuilder<unknown>> = []
    if (p.agent !== undefined) parts.push(sql`e.agent_key = (select agent_key from agents where agent_id = ${p.agent})`)
    if (scope.agents !== null) {
      parts.push(scope.agents.length === 0
        ? sql`1 = 0`
        : sql`e.agent_key in (select agent_key from agents where agent_id in (${sql.join(scope.agents)}))`)
    }
    if (scope.exclude !== null) {
      parts.push(sql`not (e.agent_key = coalesce((select agent_key from agents where agent_id = ${scope.exclude.agent}), -1) and e.session_number = ${scope.exclude.session})`)
    }
    if (p.session !== undefined) parts.push(sql`e.session_number = ${p.session}`)
    if (p.types !== null) parts.push(sql`e.event_type in (${sql.join(p.types)})`)
    // created_at is stored as ISO-8601 UTC with milliseconds: text order is time order
    if (p.after !== undefined) parts.push(sql`e.created_at > ${p.after}`)
    if (p.before !== undefined) parts.push(sql`e.created_at < ${p.before}`)
    return parts.length === 0 ? null : sql` and ${sql.join(parts, sql` and `)}`
  }

  /** The matches with hi >= id >= lo, newest first, at most `limit`, with their relevance (higher is better). */
  async function candidates (match: string, where: RawBuilder<unknown> | null, hi: number, lo: number, limit: number): Promise<Candidate[]> {
    // the events table is joined only for filters: without them the index alone answers
    if (postgres) {
      const rows = await sql<{ id: string | number, score: number }>`
          select s.id, ts_rank(s.document, to_tsquery('simple', ${match}), 1) as score
          from search_documents s${where === null ? sql`` : sql` join conversation_events e on e.id = s.id`}
          where s.document @@ to_tsquery('simple', ${match}) and s.id <= ${hi} and s.id >= ${lo}${where ?? sql``}
          order by s.id desc limit ${limit}`.execute(db)
      return rows.rows.map(r => ({ id: Number(r.id), score: Number(r.score) }))
    }
    // the FTS table drives the join, walking its matches newest first. The snippet is taken here, for every
    // candidate, rather than for the page's events afterwards: FTS5 cannot look a match up by rowid cheaply (an
    // IN list of rowids is checked against every match of the query, a prefix is expanded again for each
    // lookup), and a snippet costs little next to the highlight() the score already reads
    const rows = await sql<{ id: number, score: number, marked: string | null }>`
          select f.rowid as id, ${sql.raw(RELEVANCE_FN)}(highlight(search_index, 0, ${MARK_START}, '')) as score,
            snippet(search_index, 0, ${MARK_START}, ${MARK_END}, '…', 24) as marked
          from search_index f${where === null ? sql`` : sql` cross join conversation_events e on e.id = f.rowid`}
          where search_index match ${match} and f.rowid <= ${hi}${where ?? sql``}
          order by f.rowid desc limit ${limit}`.execute(db)
    // the lower bound is applied here: FTS5 walking newest first does not stop at a rowid lower bound it reaches
    // before the limit (a window thinned by retention) but reads on through every older match of the query. The
    // limit alone is enough: a window's events only ever leave it, so what is left of it is within its first rows
    return rows.rows.filter(r => r.id >= lo).map(r => ({ id: Number(r.id), score: Number(r.score), marked: r.marked }))
  }

  async function details (match: string, ids: number[]) {
    if (ids.length === 0) return new Map<number, HitRow>()
    if (postgres) {
      const rows = await
      // ts_headline marks the words as the index saw them; the original characters at the same place replace them
      // (offset 0 keeps the planner from pulling the subqueries up, which would copy ts_headline() and the text's
      // functions into every expression that uses them: each ran up to five times a row)
      sql<HitRow & { original: string | null, before: string | null, after: string | null, head: string | null }>`
          select h.id, h.agent_id, h.session_number, h.seq, h.event_type, h.created_at, h.marked,
            case when p.at > 0 then substr(h.txt, p.at, char_length(p.plain)) end as original,
            case when p.at > 0 then substr(h.txt, greatest(p.at - ${CONTEXT}, 1), least(p.at - 1, ${CONTEXT})) end as before,
            case when p.at > 0 then substr(h.txt, p.at + char_length(p.plain), ${CONTEXT}) end as after,
            left(h.txt, ${SNIPPET_MAX}) as head
          from (
            select e.id, (select a.agent_id from agents a where a.agent_key = e.agent_key) as agent_id, e.session_number, e.seq, e.event_type, e.created_at, t.txt, t.words,
              ts_headline('simple', t.words, to_tsquery('simple', ${match}),
                ${`StartSel=${MARK_START}, StopSel=${MARK_END}, MaxWords=24, MinWords=12, ShortWord=0, MaxFragments=1`}) as marked
            from conversation_events e
            cross join lateral (select search_text(e.event_type, e.content, e.metadata) as txt) s
            cross join lateral (select s.txt, search_words(s.txt) as words) t
            where e.id in (${sql.join(ids)})
            offset 0
          ) h
          cross join lateral (select replace(replace(h.marked, ${MARK_START}, ''), ${MARK_END}, '') as plain offset 0) q
          cross join lateral (select strpos(h.words, q.plain) as at, q.plain) p`.execute(db)
      return new Map(rows.rows.map(r => [Number(r.id), {
        ...r,
        marked: remark(r.marked ?? '', r.original ?? '', r.before ?? '', r.after ?? '') ?? r.head
      }]))
    }
    // the excerpts came with the candidates: only where each event is remains to be read
    const rows = await sql<Omit<HitRow, 'marked'>>`
          select e.id, (select a.agent_id from agents a where a.agent_key = e.agent_key) as agent_id, e.session_number, e.seq, e.event_type, e.created_at
          from conversation_events e
          where e.id in (${sql.join(ids)})`.execute(db)
    return new Map(rows.rows.map(r => [Number(r.id), { ...r, marked: null }]))
  }

  async function run<T> (fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      // the parser only emits what both engines accept; should one still refuse it, that is the query's fault
      const message = (err as Error).message ?? ''
      if (/^fts5: |syntax error in tsquery/.test(message)) throw badQuery(`the query cannot be searched: ${message}`)
      throw err
    }
  }

  /**
   * The newest event id the index covers, read before the query runs (so the answer covers at least that much): the
   * index follows the commits (SQLite: the writer thread; PostgreSQL: src/search/postgres-index.ts).
   */
  async function indexedThrough (): Promise<number> {
    const row = await sql<{ n: number | string | null }>`select indexed_through as n from search_state`.execute(db)
    return Number(row.rows[0]?.n ?? 0)
  }

  /** `scope`: what the caller may reach besides the query's own filters (the MCP endpoint's; the REST route has none). */
  async function search (p: SearchQueryType, scope: SearchScope = UNSCOPED): Promise<Static<typeof SearchResult>> {
    let tree
    try {
      tree = parseQuery(p.q)
    } catch (err) {
      if (err instanceof QuerySyntaxError) throw badQuery(`q: ${err.message}`)
      throw err
    }
    const match = postgres ? toTsquery(tree) : toFts5(tree)
    const types = parseTypes(p.type)
    const after = isoTime('after', p.after)
    const before = isoTime('before', p.before)
    const where = filters({ agent: p.agent, session: p.session, types, after, before }, scope)
    const f = fingerprint([match, p.agent, p.session, types, after, before, scope.agents, scope.exclude])

    let cursor: SearchCursor | null = null
    if (p.cursor !== undefined) {
      cursor = decodeCursor(p.cursor, f)
      if (cursor === null) throw httpError(400, 'cursor: not a cursor of this query and these filters', 'bad_cursor')
    }

    const through = await indexedThrough()
    return run(async () => {
      let window: Candidate[]
      let hi: number
      let lo: number
      let older: number | null
      if (cursor !== null && cursor.score !== undefined) {
        // the rest of a window already opened: its bounds are fixed, so it holds the same events as before
        hi = cursor.hi
        lo = cursor.lo
        window = await candidates(match, where, hi, lo, windowSize)
        older = lo > 0 ? lo - 1 : null
      } else {
        hi = cursor?.hi ?? Number.MAX_SAFE_INTEGER
        const found = await candidates(match, where, hi, 0, windowSize + 1)
        window = found.slice(0, windowSize)
        lo = found.length > windowSize ? window[window.length - 1].id : 0
        older = found.length > windowSize ? lo - 1 : null
      }
      window.sort((a, b) => b.score - a.score || b.id - a.id)
      let start = 0
      if (cursor?.score !== undefined && cursor.id !== undefined) {
        const { score, id } = cursor
        // continue after the last hit sent where it stands now; by its score if retention has removed it
        const at = window.findIndex(c => c.id === id)
        start = at !== -1 ? at + 1 : window.findIndex(c => c.score < score || (c.score === score && c.id < id))
        if (start === -1) start = window.length
      }
      const page = window.slice(start, start + p.limit)
      let next: SearchCursor | null = null
      if (start + p.limit < window.length) {
        const last = page[page.length - 1]
        next = { f, hi, lo, score: last.score, id: last.id }
      } else if (older !== null) {
        next = { f, hi: older, lo: 0 }
      }
      const found = await details(match, page.map(c => c.id))
      const hits: Array<Static<typeof SearchHit>> = []
      for (const c of page) {
        const row = found.get(c.id)
        // deleted by retention between the two reads
        if (row === undefined) continue
        const { snippet, highlights } = unmark(c.marked ?? row.marked ?? '')
        hits.push({
          agent_id: row.agent_id,
          session_number: row.session_number,
          seq: row.seq,
          event_type: row.event_type,
          created_at: row.created_at,
          snippet,
          highlights,
          score: c.score
        })
      }
      return { hits, next_cursor: next === null ? null : encodeCursor(next), indexed_through: through }
    })
  }

  return { search, indexedThrough }
}

export type Search = ReturnType<typeof createSearch> & {
  /** Said each time the index reaches further (the newest event id it covers). */
  onIndexed: (listener: (through: number) => void) => () => void
}

export default fp(async function search (fastify) {
  const search = createSearch(fastify.db, fastify.dbDialect, fastify.sqlite)
  // the index follows the commits: the SQLite writer thread catches it up; on PostgreSQL an indexer here does
  const writer = fastify.sqliteWriter
  let onIndexed: (listener: (through: number) => void) => () => void
  if (writer !== null) {
    onIndexed = writer.onIndexed
  } else {
    const indexer = createPostgresIndexer(fastify.db, {
      namespace: fastify.config.databaseSchema ?? 'public',
      onError: (err) => fastify.log.warn({ err }, 'full-text index catch-up failed; trying again shortly')
    })
    const off = fastify.events.onCommit(() => { indexer.kick() })
    fastify.addHook('onReady', async () => { indexer.kick() })
    fastify.addHook('onClose', async () => {
      off()
      await indexer.stop()
    })
    onIndexed = indexer.onIndexed
  }
  fastify.decorate('textSearch', { ...search, onIndexed })
}, { name: 'search', dependencies: ['db', 'event-store'] })
