// Regression guard for history at millions of events, without timing: the SQL that plugins/history.ts and the
// event store compile must be answered from the composite indexes, with no table scan and no temp B-tree sort.
import { test } from 'tap'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect, type CompiledQuery } from 'kysely'
import type { Database } from '../db/schema.js'
import { createHistory } from '../plugins/history.js'
import { createEventStore } from '../src/store/event-store.js'
import { createSqliteBackend } from '../src/store/sqlite-backend.js'
import type { HistoryQueryType } from '../src/schemas/events.js'
import { build, collect, sync, line, assistantText, resultLine, tempDatabasePath, type TestContext, sqlitePassOnly } from './helper.js'

/**
 * sqlite_stat1 as ANALYZE writes it for a 10M-event database (10 agents x 1M events, ~1,100-event sessions,
 * bench/seed.ts). The app never runs ANALYZE, so the plans without statistics are the ones it gets; with these
 * the planner knows the table is huge, which is when a wrong choice would hurt.
 */
const STAT1_10M: Array<[string, string[], string]> = [
  ['conversation_events', ['agent_key', 'seq'], '10000000 1000000 1'],
  ['conversation_events', ['agent_key', 'event_type', 'seq'], '10000000 1000000 125000 1'],
  ['sessions', ['agent_key', 'session_number'], '9200 920 1'],
  ['agents', ['agent_id'], '10 1']
]

interface PlanRow { detail: string }

/** A real app fed through its agent socket: two sessions, every assistant block type, results. */
async function populated (t: TestContext) {
  const databasePath = tempDatabasePath(t)
  const app = await build(t, { databasePath, sqlite: true, env: { CLEAR_CONTEXT_WAIT_MS: '0' } })
  for (const agentId of ['plan-1', 'plan-2']) {
    const ws = await app.injectWS(`/ws/${agentId}`)
    const inbox = collect(ws)
    for (let turn = 0; turn < 30; turn++) {
      ws.send([
        assistantText(`step ${turn}`),
        { type: 'assistant', message: { id: `m${turn}`, content: [{ type: 'thinking', thinking: `why ${turn}` }, { type: 'tool_use', id: `tu${turn}`, name: 'Bash', input: { turn } }] }, uuid: `${agentId}-a${turn}` },
        { type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: `tu${turn}`, content: 'ok' }] }, uuid: `${agentId}-u${turn}` },
        resultLine(0.01 * (turn + 1))
      ].map(line).join(''))
      if (turn === 14) {
        await sync(app, ws, inbox)
        const res = await app.inject({ method: 'POST', url: `/agents/${agentId}/clear-context` })
        if (res.statusCode !== 200) throw new Error(`clear-context ${res.statusCode}: ${res.body}`)
      }
    }
    await sync(app, ws, inbox)
    ws.terminate()
  }
  return { app, databasePath }
}

/** The history and the event store on a Kysely instance that records every query it compiles. */
function capturing (app: Awaited<ReturnType<typeof build>>, databasePath: string, t: TestContext) {
  const compiled: CompiledQuery[] = []
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: new SQLite(databasePath) }),
    log (event) { if (event.level === 'query') compiled.push(event.query) }
  })
  t.teardown(() => db.destroy())
  const history = createHistory(db, app.events, app.agents)
  const store = createEventStore(createSqliteBackend(db, app.sqliteWriter as NonNullable<typeof app.sqliteWriter>), app.config, app.log)
  /** The queries `fn` runs (it runs them for real, so they are the exact SQL and parameters). */
  async function queriesOf (fn: () => Promise<unknown>): Promise<CompiledQuery[]> {
    compiled.length = 0
    await fn()
    return compiled.slice()
  }
  return { history, store, queriesOf }
}

function explain (sqlite: SQLite.Database, q: CompiledQuery): string[] {
  return (sqlite.prepare(`explain query plan ${q.sql}`).all(...(q.parameters as unknown[])) as PlanRow[]).map(r => r.detail)
}

/** The columns of each index on a table, by name. */
function indexColumns (sqlite: SQLite.Database, table = 'conversation_events'): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const { name } of sqlite.prepare("select name from sqlite_master where type = 'index' and tbl_name = ?").all(table) as Array<{ name: string }>) {
    out.set(name, (sqlite.prepare(`pragma index_info(${JSON.stringify(name)})`).all() as Array<{ name: string }>).map(c => c.name))
  }
  return out
}

const BY_SEQ = ['agent_key', 'seq']
const BY_TYPE = ['agent_key', 'event_type', 'seq']
const PAGE_CASES: Array<{ name: string, query: Partial<HistoryQueryType>, index: string[], constraint: RegExp }> = [
  { name: 'first page, asc', query: {}, index: BY_SEQ, constraint: /\(agent_key=\?\)/ },
  { name: 'first page, desc', query: { order: 'desc' }, index: BY_SEQ, constraint: /\(agent_key=\?\)/ },
  { name: 'after, asc', query: { after: 40 }, index: BY_SEQ, constraint: /\(agent_key=\? AND seq>\?\)/ },
  { name: 'before, desc', query: { order: 'desc', before: 100 }, index: BY_SEQ, constraint: /\(agent_key=\? AND seq<\?\)/ },
  { name: 'after and before', query: { after: 10, before: 100 }, index: BY_SEQ, constraint: /\(agent_key=\? AND seq>\? AND seq<\?\)/ },
  // a session is the seq range the sessions table holds for it
  { name: 'session', query: { session: 1 }, index: BY_SEQ, constraint: /\(agent_key=\? AND seq>\? AND seq<\?\)/ },
  { name: 'session, after', query: { session: 1, after: 100 }, index: BY_SEQ, constraint: /\(agent_key=\? AND seq>\? AND seq<\?\)/ },
  { name: 'session, desc, before', query: { session: 0, order: 'desc', before: 50 }, index: BY_SEQ, constraint: /\(agent_key=\? AND seq>\? AND seq<\?\)/ },
  { name: 'one type', query: { type: 'tool_use' }, index: BY_TYPE, constraint: /\(agent_key=\? AND event_type=\?\)/ },
  { name: 'one type, after', query: { type: 'output', after: 60 }, index: BY_TYPE, constraint: /\(agent_key=\? AND event_type=\? AND seq>\?\)/ },
  { name: 'one type, desc, before', query: { type: 'result', order: 'desc', before: 150 }, index: BY_TYPE, constraint: /\(agent_key=\? AND event_type=\? AND seq<\?\)/ }
]

for (const stats of ['no statistics (as the app runs)', 'statistics of a 10M-event database']) {
  test(`history pages read one index range in order: ${stats}`, async (t) => {
    const { app, databasePath } = await populated(t)
    const sqlite = new SQLite(databasePath)
    t.teardown(() => sqlite.close())
    if (stats.startsWith('statistics')) {
      sqlite.exec('analyze')
      sqlite.exec('delete from sqlite_stat1')
      const put = sqlite.prepare('insert into sqlite_stat1 (tbl, idx, stat) values (?, ?, ?)')
      for (const [table, cols, stat] of STAT1_10M) {
        const index = [...indexColumns(sqlite, table)].find(([, c]) => c.join() === cols.join())
        if (index === undefined) throw new Error(`no index on ${table} (${cols.join(', ')})`)
        put.run(table, index[0], stat)
      }
      sqlite.exec('analyze sqlite_schema') // the planner rereads sqlite_stat1
    } else {
      const hasStats = sqlite.prepare("select count(*) as n from sqlite_master where name = 'sqlite_stat1'").get() as { n: number }
      t.equal(hasStats.n, 0, 'the app has not analyzed the database (if it starts to, this test should follow)')
    }
    const columns = indexColumns(sqlite)
    const { history, queriesOf } = capturing(app, databasePath, t)

    for (const c of PAGE_CASES) {
      const query: HistoryQueryType = { limit: 100, order: 'asc', ...c.query }
      const queries = await queriesOf(() => history.pageJson('plan-1', query))
      const page = queries.filter(q => /from "conversation_events"/.test(q.sql))
      t.equal(page.length, 1, `${c.name}: one query on conversation_events`)
      if (page.length !== 1) continue
      const plan = explain(sqlite, page[0])
      const search = plan.map(d => /^SEARCH conversation_events USING (?:COVERING )?INDEX (\S+) (\(.*\))$/.exec(d)).find(m => m !== null)
      t.ok(search !== undefined, `${c.name}: searches conversation_events through an index`, { plan, sql: page[0].sql })
      if (search === undefined || search === null) continue
      t.same(columns.get(search[1]), c.index, `${c.name}: the (${c.index.join(', ')}) index`, { plan })
      t.match(search[2], c.constraint, `${c.name}: bounded by ${String(c.constraint)}`, { plan })
      t.notOk(plan.some(d => /^SCAN conversation_events/.test(d)), `${c.name}: no scan`, { plan })
      t.notOk(plan.some(d => /TEMP B-TREE/.test(d)), `${c.name}: no temp B-tree (the index gives the order)`, { plan })
    }

    // several types, or a session and a type: no single index range is in seq order for these. SQLite walks one
    // agent's rows in seq order and filters, which never sorts but reads far when the types asked for are rare
    // (type=context_cleared,context_clear_outcome reads ~1,100 rows per match); they must at least stay inside
    // the agent through an index
    for (const [name, query] of [
      ['two types', { type: 'tool_use,result' }],
      ['two types, desc, before', { type: 'output,thinking', order: 'desc', before: 150 }],
      ['session and one type', { session: 1, type: 'output' }]
    ] as Array<[string, Partial<HistoryQueryType>]>) {
      const queries = await queriesOf(() => history.pageJson('plan-1', { limit: 100, order: 'asc', ...query }))
      const page = queries.filter(q => /from "conversation_events"/.test(q.sql))
      const plan = explain(sqlite, page[0])
      t.ok(plan.some(d => /^SEARCH conversation_events USING (?:COVERING )?INDEX \S+ \(agent_key=\?/.test(d)), `${name}: an index search within the agent`, { plan })
      t.notOk(plan.some(d => /^SCAN conversation_events/.test(d)), `${name}: no scan`, { plan })
      t.notOk(plan.some(d => /TEMP B-TREE/.test(d)), `${name}: no temp B-tree`, { plan })
    }
  })
}

test('start-up and listing queries use indexes, never a scan of the event log', { skip: sqlitePassOnly }, async (t) => {
  const { app, databasePath } = await populated(t)
  const sqlite = new SQLite(databasePath)
  t.teardown(() => sqlite.close())
  const { history, store, queriesOf } = capturing(app, databasePath, t)

  // what the first request for an agent costs after a restart: its row and its oldest retained seq
  const load = await queriesOf(() => store.loadAgent('plan-1', false))
  const oldest = load.filter(q => /from "conversation_events"/.test(q.sql))
  t.equal(oldest.length, 2, 'loading an agent reads the event log twice: its oldest seq, and the uuids of its last lines')
  for (const q of [...load, ...await queriesOf(() => history.listAgents()), ...await queriesOf(() => history.sessions('plan-1'))]) {
    const plan = explain(sqlite, q)
    t.notOk(plan.some(d => /^SCAN conversation_events/.test(d)), `no scan of conversation_events: ${q.sql.slice(0, 60)}`, { plan })
    t.notOk(plan.some(d => /TEMP B-TREE/.test(d)), `no temp B-tree: ${q.sql.slice(0, 60)}`, { plan })
  }
  t.match(explain(sqlite, oldest[0]).join('\n'), /SEARCH conversation_events USING (COVERING )?INDEX \S+ \(agent_key=\?\)/, 'the oldest seq is one index probe')
  t.match(explain(sqlite, oldest[1]).join('\n'), /SEARCH conversation_events USING INDEX \S+ \(agent_key=\? AND seq>\?\)/, 'the dedupe window is one range of the log tail')
})
