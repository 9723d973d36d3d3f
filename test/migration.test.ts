// A database written by the previous release (schema 0001) upgrades in place at start-up: every page, session,
// total, baseline and seq is what it was, and lines it had stored are still recognised when re-sent.
import { test } from 'tap'
import { randomUUID } from 'node:crypto'
import { Migrator, type Kysely } from 'kysely'
import { openDatabase } from '../db/connect.js'
import { build, collect, sync, line, walk, sessionsOf, tempDatabasePath, assistantText, resultLine } from './helper.js'
import { databaseEnv } from './support/database.js'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { migrations } from '../db/migrations.js'

interface OldEvent { id: number, agent_id: string, session_number: number, seq: number, event_type: string, content: string | null, metadata: string | null, created_at: string }

const TYPES = ['output', 'tool_use', 'tool_result', 'thinking', 'result', 'activity_changed', 'prompt_sent', 'context_cleared']

/** Writes a 0001 database the way the previous release left it: three agents, sessions, a pruned start, dedupe keys. */
async function oldDatabase (db: Kysely<any>) {
  const events: OldEvent[] = []
  const uuids = new Map<string, string[]>()
  let id = 0
  const agents = [
    { agent_id: 'old-1', events: 260, pruneBelow: 1, sessions: [0, 120, 200] },
    { agent_id: 'old-2', events: 140, pruneBelow: 41, sessions: [0, 70] },
    { agent_id: 'old-3', events: 0, pruneBelow: 1, sessions: [] as number[] }
  ]
  for (const a of agents) {
    const lastSession = Math.max(0, a.sessions.length - 1)
    await db.insertInto('agents').values({
      agent_id: a.agent_id,
      current_session: lastSession,
      last_seq: a.events,
      created_at: '2026-01-01T00:00:00.000Z',
      last_connected_at: '2026-01-02T00:00:00.000Z',
      last_seen_at: '2026-01-02T00:00:01.000Z',
      info: JSON.stringify({ model: 'claude-sonnet-4-6', claude_session_id: 'sess-1' }),
      cost_baseline_usd: a.events > 0 ? 1.25 : null
    }).execute()
    const lineUuids: string[] = []
    for (let seq = 1; seq <= a.events; seq++) {
      const session = a.sessions.filter(first => first < seq).length - 1
      const type = seq === 1 ? 'output' : TYPES[seq % TYPES.length]
      const uuid = randomUUID()
      const e: OldEvent = {
        id: ++id,
        agent_id: a.agent_id,
        session_number: Math.max(0, session),
        seq,
        event_type: type,
        content: type === 'activity_changed' ? null : `${a.agent_id} event ${seq} ✓`,
        metadata: seq % 3 === 0 ? null : JSON.stringify({ uuid, n: seq, nested: { ok: true } }),
        created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString()
      }
      if (seq >= a.pruneBelow) events.push(e)
      // every second event starts a line (the dedupe key sits at the line's first seq)
      if (seq % 2 === 1 && seq >= a.pruneBelow) {
        lineUuids.push(uuid)
        await db.insertInto('agent_lines').values({ agent_id: a.agent_id, uuid, seq }).execute()
      }
    }
    uuids.set(a.agent_id, lineUuids)
    for (let s = 0; s < a.sessions.length; s++) {
      const first = a.sessions[s] + 1
      const last = s + 1 < a.sessions.length ? a.sessions[s + 1] : a.events
      await db.insertInto('sessions').values({
        agent_id: a.agent_id,
        session_number: s,
        first_seq: first,
        last_seq: last,
        started_at: '2026-01-01T00:00:00.000Z',
        ended_at: '2026-01-01T01:00:00.000Z',
        cost_usd: 0.125 * (s + 1),
        input_tokens: 1000 * (s + 1),
        output_tokens: 100 * (s + 1),
        cache_read_tokens: 10 * (s + 1),
        cache_creation_tokens: s + 1
      }).execute()
    }
  }
  for (let i = 0; i < events.length; i += 200) {
    await db.insertInto('conversation_events').values(events.slice(i, i + 200)).execute()
  }
  return { events, uuids }
}

test('a database of the previous release upgrades in place: pages, sessions, totals, baseline and dedupe survive', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = databaseEnv(databasePath)
  const { db } = openDatabase({
    databasePath,
    databaseUrl: env.DATABASE_URL ?? null,
    databaseSchema: env.DATABASE_SCHEMA ?? null
  })
  const schema = env.DATABASE_SCHEMA ?? null
  if (schema !== null) await db.schema.createSchema(schema).ifNotExists().execute()
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ '0001_init': await import('../db/migrations/0001_init.js') }) },
    ...(schema !== null ? { migrationTableSchema: schema } : {})
  })
  const first = await migrator.migrateToLatest()
  t.same(first.results?.map(r => [r.migrationName, r.status]), [['0001_init', 'Success']])
  const before = await oldDatabase(db)
  await db.destroy()

  // start-up migrates
  const app = await build(t, { databasePath, env: { CLEAR_CONTEXT_WAIT_MS: '0' } })
  for (const agentId of ['old-1', 'old-2', 'old-3']) {
    const expected = before.events.filter(e => e.agent_id === agentId).map(e => ({ ...e, metadata: e.metadata === null ? null : JSON.parse(e.metadata) }))
    for (const limit of [7, 100]) {
      t.same(await walk(app, agentId, '', limit), expected, `${agentId}: every page (limit ${limit}) is what it was`)
      t.same(await walk(app, agentId, 'order=desc', limit), expected.slice().reverse(), `${agentId}: every page, newest first`)
    }
    for (const session of [0, 1, 2]) {
      t.same((await walk(app, agentId, `session=${session}`, 13)).map(e => e.seq),
        expected.filter(e => e.session_number === session).map(e => e.seq), `${agentId}: session ${session} is the same seq range`)
    }
    t.same((await walk(app, agentId, 'type=tool_use', 13)).map(e => e.seq),
      expected.filter(e => e.event_type === 'tool_use').map(e => e.seq), `${agentId}: a type filter reads the same events`)
  }

  const listed = (await app.inject({ method: 'GET', url: '/agents' })).json().agents
  t.match(listed, [
    { agent_id: 'old-1', current_session: 2, last_seq: 260, oldest_seq: 1, event_count: 260, cost_usd: 0.75, input_tokens: 6000, output_tokens: 600, info: { model: 'claude-sonnet-4-6' } },
    { agent_id: 'old-2', current_session: 1, last_seq: 140, oldest_seq: 41, event_count: 100, cost_usd: 0.375, input_tokens: 3000, output_tokens: 300 },
    { agent_id: 'old-3', current_session: 0, last_seq: 0, oldest_seq: null, event_count: 0 }
  ], 'the listing: sessions, seq, totals')
  const s1 = await sessionsOf(app, 'old-1')
  t.same(s1.sessions.map((s: any) => [s.session_number, s.first_seq, s.last_seq, s.event_count, s.cost_usd, s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_creation_tokens]),
    [[0, 1, 120, 120, 0.125, 1000, 100, 10, 1], [1, 121, 200, 80, 0.25, 2000, 200, 20, 2], [2, 201, 260, 60, 0.375, 3000, 300, 30, 3]])
  const s2 = await sessionsOf(app, 'old-2')
  t.same(s2.sessions.map((s: any) => [s.session_number, s.first_seq, s.event_count]), [[0, 41, 30], [1, 71, 70]], 'pruned sessions count what is left')

  // the same agent reconnects (not a new process) and re-sends its last lines: nothing new; then a new line and a
  // result continue seq, session and the stored cost baseline
  const ws = await app.injectWS('/ws/old-1', { headers: { 'x-last-request-id': 'x' } })
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  const resent = (before.uuids.get('old-1') ?? []).slice(-50).map(uuid => line(assistantText('again', { uuid })))
  ws.send(resent.join('') + line(assistantText('new')) + line(resultLine(1.5)))
  await sync(app, ws, inbox)
  const tail = await walk(app, 'old-1', 'after=260')
  t.same(tail.map(e => [e.seq, e.session_number, e.event_type]), [[261, 2, 'output'], [262, 2, 'result'], [263, 2, 'activity_changed']], 're-sent lines add nothing; seq and session go on')
  t.equal(tail[1].metadata.cost_usd, 0.25, 'the cost baseline survived (1.5 - 1.25)')
})

test('db/migrations.ts lists every migration file, in order, under its file name', async (t) => {
  const dir = fileURLToPath(new URL('../db/migrations/', import.meta.url))
  const files = readdirSync(dir).filter(f => /^\d{4}_.+\.ts$/.test(f)).map(f => f.replace(/\.ts$/, '')).sort()
  t.same(Object.keys(migrations), files)
})

test('0013 fills the daily roll-up from the hours a 0012 database already holds', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = databaseEnv(databasePath)
  const { db } = openDatabase({ databasePath, databaseUrl: env.DATABASE_URL ?? null, databaseSchema: env.DATABASE_SCHEMA ?? null })
  const schema = env.DATABASE_SCHEMA ?? null
  if (schema !== null) await db.schema.createSchema(schema).ifNotExists().execute()
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, ...(schema !== null ? { migrationTableSchema: schema } : {}) })
  const upTo12 = await migrator.migrateTo('0012_usage')
  t.equal(upTo12.error, undefined)
  await db.insertInto('agents').values({ agent_id: 'old-usage', current_session: 1, last_seq: 0, created_at: '2026-01-01T00:00:00.000Z' }).execute()
  const key = Number((await db.selectFrom('agents').select('agent_key').where('agent_id', '=', 'old-usage').executeTakeFirstOrThrow()).agent_key)
  const row = (session: number, hour: string, input: number) => ({
    agent_key: key,
    session_number: session,
    model: 'claude-sonnet-4-5',
    hour,
    input_tokens: input,
    output_tokens: 1,
    cache_creation_tokens: 0,
    cache_creation_1h_tokens: 0,
    cache_read_tokens: 0,
    web_search_requests: 0,
    reported_cost_usd: input / 1000,
    computed_cost_usd: 0,
    reported_count: 1,
    computed_count: 0,
    unpriced_count: 0
  })
  await db.insertInto('usage_hours').values([row(0, '2026-02-01T03', 100), row(0, '2026-02-01T20', 200), row(1, '2026-02-02T01', 400), row(1, '2026-02-03T05', 800)]).execute()
  await db.destroy()

  const app = await build(t, { databasePath })
  const res = await app.inject({ method: 'GET', url: '/usage?group_by=agent,day&from=2026-02-01&to=2026-02-03' })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().usage.map((r: any) => [r.agent_id, r.day, r.input_tokens]), [['old-usage', '2026-02-01', 300], ['old-usage', '2026-02-02', 400], ['old-usage', '2026-02-03', 800]],
    'whole days read from usage_agent_days, filled by the migration')
  const days = await app.db.selectFrom('usage_agent_days').select(['day', 'input_tokens']).orderBy('day').execute()
  t.same(days.map(d => [d.day, Number(d.input_tokens)]), [['2026-02-01', 300], ['2026-02-02', 400], ['2026-02-03', 800]])
})
