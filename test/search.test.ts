// GET /search through the real app, on SQLite and (when DATABASE_URL is set) PostgreSQL.
import { test } from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { type Kysely, sql } from 'kysely'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { build, collect, searchable, sync, assistantText, resultLine, line, uuid, postgresUrl, postgresSchema, tempDatabasePath, history, fixturesDir, type TestContext } from './helper.js'
import { createSearch } from '../plugins/search.js'
import * as searchMigration from '../db/migrations/0005_search.js'
import * as batchedMigration from '../db/migrations/0007_search_batched.js'
import * as catchUpMigration from '../db/migrations/0008_search_catch_up.js'
import * as catchUpPostgresMigration from '../db/migrations/0009_search_catch_up_postgres.js'

const databases: Array<{ name: string, skip: string | false, env: (t: TestContext) => Promise<Record<string, string>> }> = [
  { name: 'sqlite', skip: false, env: async () => ({}) },
  { name: 'postgres', skip: postgresUrl === '' ? 'DATABASE_URL is not set' : false, env: postgresSchema }
]

function toolUse (name: string, input: Record<string, unknown>) {
  return {
    type: 'assistant',
    message: { id: `msg_${uuid()}`, role: 'assistant', content: [{ type: 'tool_use', id: `toolu_${uuid()}`, name, input }] },
    parent_tool_use_id: null,
    session_id: 'sess-1',
    uuid: uuid()
  }
}

function toolResult (text: string) {
  return { type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: text }] }, parent_tool_use_id: null, session_id: 'sess-1', uuid: uuid() }
}

function thinking (text: string) {
  return { type: 'assistant', message: { id: `msg_${uuid()}`, role: 'assistant', content: [{ type: 'thinking', thinking: text, signature: 's' }] }, parent_tool_use_id: null, session_id: 'sess-1', uuid: uuid() }
}

async function agent (t: TestContext, app: FastifyInstance, agentId: string) {
  const ws = await app.injectWS(`/ws/${agentId}`)
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  return {
    async send (messages: unknown[]) {
      ws.send(messages.map(line).join(''))
      await sync(app, ws, inbox)
    }
  }
}

/** GET /search once the index covers everything written so far (it follows the commits, see helper.searchable). */
async function search (app: FastifyInstance, query: Record<string, string | number>, headers: Record<string, string> = {}) {
  await searchable(app)
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString()
  return app.inject({ method: 'GET', url: `/search?${qs}`, headers })
}

async function hits (app: FastifyInstance, query: Record<string, string | number>): Promise<any[]> {
  const res = await search(app, query)
  if (res.statusCode !== 200) throw new Error(`search ${res.statusCode}: ${res.body}`)
  return res.json().hits
}

/** Every hit of a query, following next_cursor. */
async function walkSearch (app: FastifyInstance, query: Record<string, string | number>): Promise<{ hits: any[], pages: number }> {
  const all: any[] = []
  let pages = 0
  let cursor: string | null = null
  do {
    const res = await search(app, cursor === null ? query : { ...query, cursor })
    if (res.statusCode !== 200) throw new Error(`search ${res.statusCode}: ${res.body}`)
    const body = res.json()
    all.push(...body.hits)
    cursor = body.next_cursor
    pages++
  } while (cursor !== null && pages < 1000)
  return { hits: all, pages }
}

const marked = (hit: any): string[] => hit.highlights.map(([a, b]: [number, number]) => hit.snippet.slice(a, b))

for (const database of databases) {
  test(`${database.name}: words, phrases, prefixes, AND/OR/NOT, parentheses and quoting over every searchable event type`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: await database.env(t) })
    const a = await agent(t, app, 'agent-1')
    await a.send([
      assistantText('We should migrate the database before the release.'),
      thinking('Maybe the migration needs a lock on the table.'),
      toolUse('Bash', { command: 'npm run\nmigrate -- --dry-run', description: 'Run the "database" migrations' }),
      toolResult('applied: 0001_init, 0002_events OR nothing'),
      resultLine(0.01, { result: 'Deployed to staging without errors' }),
      assistantText('Release notes drafted; staging is green.'),
      assistantText('Nothing to see here at all.')
    ])
    const prompt = await app.inject({ method: 'POST', url: '/agents/agent-1/messages', payload: { content: 'Please deploy to production' } })
    t.equal(prompt.statusCode, 202)

    const types = async (q: string) => (await hits(app, { q })).map(h => h.event_type).sort()
    t.same(await types('migrate'), ['output', 'tool_use'], 'the tool input is indexed, with its escapes undone')
    t.same(await types('migrat*'), ['output', 'thinking', 'tool_use'], 'a prefix')
    t.same(await types('Bash'), ['tool_use'], 'the tool name')
    t.same(await types('0002_events'), ['tool_result'])
    t.same(await types('staging'), ['output', 'result'], 'result text')
    t.same(await types('production'), ['prompt_sent'])
    t.same(await types('busy'), [], 'activity_changed and other server events are not indexed')
    t.same(await types('"the database"'), ['output', 'tool_use'], 'a phrase (the tool input has it too)')
    t.same(await types('"database the"'), [], 'a phrase is in order')
    t.same(await types('release staging'), ['output'], 'implicit AND')
    t.same(await types('release AND staging'), ['output'])
    t.same(await types('lock OR production'), ['prompt_sent', 'thinking'])
    t.same(await types('migrat* NOT database'), ['thinking'], 'NOT excludes (the tool input mentions "database")')
    t.same(await types('(lock OR production) NOT please'), ['thinking'], 'parentheses')
    t.same(await types('"OR"'), ['tool_result'], 'a quoted operator is a word')
    t.same(await types('MIGRATE'), await types('migrate'), 'case does not matter')

    const [hit] = await hits(app, { q: '"the database"' })
    t.match(hit, { agent_id: 'agent-1', session_number: 0, seq: 1, event_type: 'output' })
    // SQLite marks the phrase; PostgreSQL marks each of its words wherever they are
    t.ok(marked(hit).includes('the database'), 'the phrase is highlighted')
    t.type(hit.score, 'number')
    t.ok(Date.parse(hit.created_at) > 0)

    const [tool] = await hits(app, { q: 'migrate', type: 'tool_use' })
    t.same(marked(tool), ['migrate'])
    t.match(tool.snippet, /npm run\nmigrate/, 'the snippet reads like the input')
  })

  test(`${database.name}: ranked by relevance, newest first among equals`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: await database.env(t) })
    const a = await agent(t, app, 'agent-1')
    await a.send([
      assistantText('deploy'),
      assistantText('deploy the service and deploy the worker, then deploy again; deploy'),
      assistantText('a long story about many things that mentions deploy only once among a lot of other words here'),
      assistantText('deploy')
    ])
    const found = await hits(app, { q: 'deploy' })
    t.equal(found.length, 4)
    const scores = found.map(h => h.score)
    t.same(scores, scores.slice().sort((x, y) => y - x), 'scores descend')
    t.equal(found[found.length - 1].seq, 3, 'one mention in a long text ranks last')
    const equal = found.filter(h => h.snippet === 'deploy')
    t.same(equal.map(h => h.seq), [4, 1], 'equal scores: newest first')
  })

  test(`${database.name}: filters by agent, session, type and time`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: { ...await database.env(t), CLEAR_CONTEXT_WAIT_MS: '0' } })
    const a = await agent(t, app, 'agent-a')
    const b = await agent(t, app, 'agent-b')
    await a.send([assistantText('kiwi one'), thinking('kiwi two')])
    await b.send([assistantText('kiwi three')])
    const early = await hits(app, { q: 'kiwi' })
    const last = Math.max(...early.map(h => Date.parse(h.created_at)))
    // the next events must carry a later millisecond than every event so far
    const deadline = Date.now() + 5000
    while (Date.now() <= last && Date.now() < deadline) await new Promise(resolve => setImmediate(resolve))
    // context_cleared and context_clear_outcome take seq 3 and 4
    t.equal((await app.inject({ method: 'POST', url: '/agents/agent-a/clear-context' })).statusCode, 200)
    await a.send([assistantText('kiwi four')])

    const seqs = async (query: Record<string, string | number>) => (await hits(app, { q: 'kiwi', ...query })).map(h => `${h.agent_id}#${h.seq}`).sort()
    t.same(await seqs({}), ['agent-a#1', 'agent-a#2', 'agent-a#5', 'agent-b#1'])
    t.same(await seqs({ agent: 'agent-b' }), ['agent-b#1'])
    t.same(await seqs({ agent: 'agent-a', session: 1 }), ['agent-a#5'])
    t.same(await seqs({ session: 0 }), ['agent-a#1', 'agent-a#2', 'agent-b#1'])
    t.same(await seqs({ type: 'thinking' }), ['agent-a#2'])
    t.same(await seqs({ type: 'output,thinking', agent: 'agent-a', session: 0 }), ['agent-a#1', 'agent-a#2'])
    const cut = new Date(last).toISOString()
    t.same(await seqs({ after: cut }), ['agent-a#5'], 'after is exclusive')
    t.same(await seqs({ before: new Date(last + 1).toISOString() }), ['agent-a#1', 'agent-a#2', 'agent-b#1'])
    t.same(await seqs({ after: '2000-01-01T00:00:00+02:00', before: cut }), ['agent-a#1', 'agent-a#2', 'agent-b#1'].filter(s => early.some(h => `${h.agent_id}#${h.seq}` === s && Date.parse(h.created_at) < last)), 'any ISO-8601 offset')
    t.same(await seqs({ agent: 'nobody' }), [], 'an unknown agent has no hits')

    for (const [query, code] of [
      [{ type: 'nonsense' }, 'bad_parameter'],
      [{ after: 'yesterday' }, 'bad_parameter'],
      [{ limit: 101 }, 'bad_parameter'],
      [{ limit: 0 }, 'bad_parameter'],
      [{ agent: '../x' }, 'bad_parameter']
    ] as const) {
      const res = await search(app, { q: 'kiwi', ...query })
      t.equal(res.statusCode, 400, JSON.stringify(query))
      t.equal(res.json().code, code)
    }
  })

  test(`${database.name}: snippets are plain text with UTF-16 highlight offsets`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: await database.env(t) })
    const a = await agent(t, app, 'agent-1')
    await a.send([
      assistantText('<script>alert("owned")</script> <img src=x onerror=alert(1)> payload'),
      assistantText('emoji 😀😀 before the needle and after 🎉'),
      assistantText(`${'filler words '.repeat(200)}haystack needle ${'more filler '.repeat(200)}`)
    ])
    const [xss] = await hits(app, { q: 'payload' })
    t.equal(xss.snippet, '<script>alert("owned")</script> <img src=x onerror=alert(1)> payload', 'content as it is: text, never escaped into or out of markup')
    t.same(marked(xss), ['payload'])
    const [script] = await hits(app, { q: 'script' })
    t.ok(script.highlights.length > 0)
    t.ok(marked(script).every(m => m === 'script'))

    const found = await hits(app, { q: 'needle' })
    t.equal(found.length, 2)
    for (const hit of found) {
      t.same(marked(hit), ['needle'])
      t.notOk(/[\uE000\uE001]/.test(hit.snippet), 'no marks left in the text')
      t.ok(hit.snippet.length <= 302, 'a long text gives a short snippet')
    }
    const emoji = found.find(h => h.snippet.startsWith('emoji 😀😀'))
    t.same(emoji.highlights, [[22, 28]], 'offsets count UTF-16 units (an emoji is two)')
  })

  test(`${database.name}: the cursor visits every hit once, across windows and pages`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: await database.env(t) })
    const a = await agent(t, app, 'agent-1')
    const batch: unknown[] = []
    for (let i = 0; i < 57; i++) batch.push(assistantText(`${'walnut '.repeat(1 + (i % 5))}number ${i}`), assistantText(`unrelated ${i}`))
    await a.send(batch)

    const all = await walkSearch(app, { q: 'walnut', limit: 10 })
    t.equal(all.pages, 6)
    const seqs = all.hits.map(h => h.seq)
    t.equal(new Set(seqs).size, 57, 'no doubles')
    t.equal(seqs.length, 57, 'nothing missed')
    for (let i = 1; i < all.hits.length; i++) {
      const [p, c] = [all.hits[i - 1], all.hits[i]]
      if (!(p.score > c.score || (p.score === c.score && p.seq > c.seq))) t.fail(`out of order at ${i}`)
    }

    // a window smaller than the matches: ranked within the newest matches, then the next older ones
    const small = createSearch(app.db, app.dbDialect, app.sqlite, { window: 7 })
    const visited: any[] = []
    let cursor: string | undefined
    for (let n = 0; n < 100; n++) {
      const page = await small.search({ q: 'walnut', limit: 3, cursor })
      visited.push(...page.hits)
      if (page.next_cursor === null) break
      cursor = page.next_cursor
    }
    t.same(visited.map(h => h.seq).sort((x, y) => x - y), seqs.slice().sort((x, y) => x - y), 'every hit exactly once')
    const windows = [...Array(Math.ceil(57 / 7)).keys()].map(w => visited.slice(w * 7, w * 7 + 7))
    for (let w = 1; w < windows.length; w++) {
      t.ok(Math.max(...windows[w].map(h => h.seq)) < Math.min(...windows[w - 1].map(h => h.seq)), `window ${w} is older than window ${w - 1}`)
    }

    const other = await search(app, { q: 'unrelated', cursor: (await search(app, { q: 'walnut', limit: 10 })).json().next_cursor })
    t.equal(other.statusCode, 400)
    t.equal(other.json().code, 'bad_cursor', "another query's cursor")
    const junk = await search(app, { q: 'walnut', cursor: 'nope' })
    t.equal(junk.json().code, 'bad_cursor')
  })

  test(`${database.name}: a window thinned between two pages goes on with what is left of it`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: await database.env(t) })
    const a = await agent(t, app, 'agent-1')
    await a.send(Array.from({ length: 20 }, (_, i) => assistantText(`${'almond '.repeat(1 + (i % 3))}number ${i}`)))
    await searchable(app)
    const small = createSearch(app.db, app.dbDialect, app.sqlite, { window: 7 })
    const first = await small.search({ q: 'almond', limit: 3 })
    t.equal(first.hits.length, 3)
    // as retention would: two events of the open window not sent yet, and the oldest one of the log, go
    const sent = new Set(first.hits.map(h => h.seq))
    const newest = [20, 19, 18, 17, 16, 15, 14]
    const gone = [...newest.filter(seq => !sent.has(seq)).slice(0, 2), 1]
    await sql`delete from conversation_events where seq in (${sql.join(gone)})`.execute(app.db)
    const visited = [...first.hits]
    let cursor = first.next_cursor
    for (let n = 0; n < 100 && cursor !== null; n++) {
      const page = await small.search({ q: 'almond', limit: 3, cursor })
      visited.push(...page.hits)
      cursor = page.next_cursor
    }
    const seqs = visited.map(h => h.seq)
    t.equal(new Set(seqs).size, seqs.length, 'no doubles')
    t.same(seqs.sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1).filter(seq => !gone.includes(seq)), 'every event left, once')
    t.same(visited.slice(0, 5).map(h => h.seq).sort((x, y) => y - x), newest.filter(seq => !gone.includes(seq)), 'the first window holds what is left of it, no older event')
  })

  test(`${database.name}: retention removes hits with their events`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: { ...await database.env(t), EVENTS_MAX_PER_AGENT: '10', BATCH_MAX: '5' } })
    const a = await agent(t, app, 'agent-1')
    await a.send(Array.from({ length: 30 }, (_, i) => assistantText(`pecan ${i}`)))
    const deadline = Date.now() + 10000
    let page = await history(app, 'agent-1', 'limit=1')
    while (page.oldest_seq !== 21 && Date.now() < deadline) {
      await new Promise(resolve => setImmediate(resolve))
      page = await history(app, 'agent-1', 'limit=1')
    }
    t.equal(page.oldest_seq, 21)
    const found = await walkSearch(app, { q: 'pecan', limit: 100 })
    t.same(found.hits.map(h => h.seq).sort((x, y) => x - y), Array.from({ length: 10 }, (_, i) => 21 + i))
    t.same(await hits(app, { q: '"pecan 3"' }), [], 'a deleted event is not found')
  })

  test(`${database.name}: the migration fills the index of an existing database`, { skip: database.skip }, async (t) => {
    const env = await database.env(t)
    const databasePath = tempDatabasePath(t)
    let app = await build(t, { env, databasePath })
    const a = await agent(t, app, 'agent-1')
    await a.send([assistantText('hazelnut before the index existed'), toolUse('Grep', { pattern: 'hazelnut' })])
    // the database as it was before search (no index, events in place), then the migration as an upgrade runs it
    await searchable(app)
    const db = app.db as unknown as Kysely<any>
    await catchUpPostgresMigration.down(db)
    await catchUpMigration.down(db)
    await batchedMigration.down(db)
    await searchMigration.down(db)
    t.equal((await app.inject({ method: 'GET', url: '/search?q=hazelnut' })).statusCode, 500, 'no index any more')
    await searchMigration.up(db)
    await batchedMigration.up(db)
    await catchUpMigration.up(db)
    await catchUpPostgresMigration.up(db)
    await app.close()

    app = await build(t, { env, databasePath })
    const found = await hits(app, { q: 'hazelnut' })
    t.same(found.map(h => h.event_type).sort(), ['output', 'tool_use'])
    const b = await agent(t, app, 'agent-1')
    await b.send([assistantText('hazelnut after')])
    t.equal((await hits(app, { q: 'hazelnut' })).length, 3, 'and keeps it in step afterwards')
  })

  test(`${database.name}: what every write path stores is found: lines, operator prompts, imported transcripts`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: await database.env(t) })
    const a = await agent(t, app, 'agent-1')
    await a.send([assistantText('walnut from a line')])
    const prompt = await app.inject({ method: 'POST', url: '/agents/agent-1/messages', payload: { content: 'walnut from an operator' } })
    t.equal(prompt.statusCode, 202)
    const transcript = readFileSync(join(fixturesDir(), 'claude-code-2.1.331-transcripts', 'projects', '-home-dev-project',
      'b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl'), 'utf8')
    const imported = await app.inject({
      method: 'POST',
      url: '/agents/imported/import?file=b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: transcript
    })
    t.equal(imported.statusCode, 200, imported.body)
    t.same((await hits(app, { q: 'walnut' })).map(h => h.event_type).sort(), ['output', 'prompt_sent'])
    t.same((await hits(app, { q: 'mock model answering' })).map(h => h.agent_id), ['imported'], 'an import is indexed too')
  })

  test(`${database.name}: invalid syntax is 400 bad_query, never a 500`, { skip: database.skip }, async (t) => {
    const app = await build(t, { env: await database.env(t) })
    const a = await agent(t, app, 'agent-1')
    await a.send([assistantText('almond deploy "quoted" (paren) OR and NOT')])
    for (const q of ['"unterminated', '(almond', 'almond)', 'AND almond', 'almond OR', 'NOT almond', '*', '()', '-']) {
      const res = await search(app, { q })
      t.equal(res.statusCode, 400, q)
      t.match(res.json(), { error: 'Bad Request', code: 'bad_query', message: /^q: / })
    }
    const empty = await search(app, { q: '' })
    t.equal(empty.statusCode, 400)
    const piece = fc.oneof(
      fc.constantFrom('AND', 'OR', 'NOT', '(', ')', '"', '*', 'almond', 'dep*', '"and not"', '\\', "'", ':', '&', '|', '!', '<->', '日本'),
      fc.string({ maxLength: 5 })
    )
    await fc.assert(fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 10 }).map(p => p.join(' ')), async (q) => {
      const res = await search(app, { q })
      if (res.statusCode === 200) return true
      return res.statusCode === 400 && ['bad_query', 'bad_parameter'].includes(res.json().code)
    }), { numRuns: 150 })
  })
}

test('search needs the reader role', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: 'reader:r-1,agent:a-1' } })
  t.equal((await search(app, { q: 'x' })).statusCode, 401)
  t.equal((await search(app, { q: 'x' }, { authorization: 'Bearer a-1' })).statusCode, 403)
  t.equal((await search(app, { q: 'x' }, { authorization: 'Bearer r-1' })).statusCode, 200)
})
