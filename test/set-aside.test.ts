// A poison line cannot stall everyone: a line the database refuses on its own (a trigger raising for it here) is
// set aside with its agent, place and error while every other line commits; a storage outage sets nothing aside,
// and every wait on the writer ends by its deadline with a 503 and a code.
import { test } from 'tap'
import { sql } from 'kysely'
import SQLite from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { build, collect, sync, line, assistantText, fixturesDir, postgresUrl, tempDatabasePath, walk, boundFor, LOAD_MARGIN_MS } from './helper.js'

const postgres = postgresUrl !== ''

/** Makes the database itself refuse any event whose content holds POISON (a real failure of the insert). */
async function poisonTrigger (app: FastifyInstance): Promise<void> {
  if (postgres) {
    await sql`create function refuse_poison () returns trigger language plpgsql as $$
      begin
        if new.content like '%POISON%' then raise exception 'poisoned line'; end if;
        return new;
      end $$`.execute(app.db)
    await sql`create trigger refuse_poison before insert on conversation_events for each row execute function refuse_poison()`.execute(app.db)
  } else {
    await sql`create trigger refuse_poison before insert on conversation_events when new.content like '%POISON%'
      begin select raise(abort, 'poisoned line'); end`.execute(app.db)
  }
}

async function metric (app: FastifyInstance, name: string): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(res.body)
  if (m === null) throw new Error(`no ${name} in /metrics`)
  return Number(m[1])
}

test('a line the database refuses is set aside; both agents\' other lines commit in order with gapless seqs', async (t) => {
  const app = await build(t)
  await poisonTrigger(app)
  const a = await app.injectWS('/ws/agent-a')
  const b = await app.injectWS('/ws/agent-b')
  t.teardown(() => { a.terminate(); b.terminate() })
  const inboxA = collect(a)
  const inboxB = collect(b)
  const sentA = ['a0', 'a1', 'a2 POISON', 'a3', 'a4', 'a5']
  const sentB = ['b0', 'b1', 'b2', 'b3']
  // interleaved, so the refused line sits in the middle of batches holding both agents' lines
  for (let i = 0; i < sentA.length; i++) {
    a.send(line(assistantText(sentA[i])))
    if (i < sentB.length) b.send(line(assistantText(sentB[i])))
  }
  const started = Date.now()
  await sync(app, a, inboxA)
  await sync(app, b, inboxB)
  const ms = Date.now() - started
  t.ok(ms < 10000, `the queue drained in ${ms} ms`)

  const eventsA = await walk(app, 'agent-a')
  t.same(eventsA.map(e => e.content), ['a0', 'a1', 'a3', 'a4', 'a5'], 'agent-a: every line but the refused one, in order')
  t.same(eventsA.map(e => e.seq), [1, 2, 3, 4, 5], 'agent-a: seqs stay gapless (the refused line took none)')
  const eventsB = await walk(app, 'agent-b')
  t.same(eventsB.map(e => e.content), sentB, 'agent-b: untouched')
  t.same(eventsB.map(e => e.seq), [1, 2, 3, 4])
  if (!postgres) {
    // SQLite's probes commit and undo their rows: they leave neither rows nor a hole in the ids
    const ids = [...eventsA, ...eventsB].map(e => e.id).sort((x, y) => x - y)
    t.same(ids, ids.map((_, i) => i + 1), 'event ids 1..n without a hole')
  }

  const listed = await app.inject({ method: 'GET', url: '/set-aside' })
  t.equal(listed.statusCode, 200)
  const body = listed.json()
  t.equal(body.lines.length, 1, 'one line set aside')
  const [aside] = body.lines
  t.equal(aside.agent_id, 'agent-a')
  t.equal(aside.after_seq, 2, 'it belongs after seq 2')
  t.equal(aside.session_number, 0)
  t.match(aside.error, /poisoned line/, 'the database\'s error')
  t.equal(JSON.parse(aside.line).message.content[0].text, 'a2 POISON', 'the line itself is kept')
  t.equal(body.next_cursor, null)
  t.same((await app.inject({ method: 'GET', url: '/set-aside?agent=agent-b' })).json().lines, [], 'filtered by agent')
  t.equal(await metric(app, 'agentlog_lines_set_aside_total'), 1, 'counted in /metrics')
  t.equal(await metric(app, 'agentlog_set_aside_lines'), 1, 'the table\'s count in /metrics')
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'the writer is healthy')

  // the agent goes on: its next lines continue right after
  a.send(line(assistantText('a6')))
  await sync(app, a, inboxA)
  t.same((await walk(app, 'agent-a')).map(e => [e.seq, e.content]).slice(-1), [[6, 'a6']])
})

test('a prompt the database refuses answers 500 event_refused at once; the next one is stored', async (t) => {
  const app = await build(t)
  await poisonTrigger(app)
  const a = await app.injectWS('/ws/agent-a')
  t.teardown(() => a.terminate())
  const inbox = collect(a)
  a.send(line(assistantText('hello')))
  await sync(app, a, inbox)
  const started = Date.now()
  const refused = await app.inject({ method: 'POST', url: '/agents/agent-a/messages', payload: { content: 'a POISON prompt' } })
  t.equal(refused.statusCode, 500)
  t.equal(refused.json().code, 'event_refused')
  t.ok(Date.now() - started < LOAD_MARGIN_MS, 'answered at once, not at the write deadline (10 s)')
  const ok = await app.inject({ method: 'POST', url: '/agents/agent-a/messages', payload: { content: 'fine' } })
  t.equal(ok.statusCode, 202)
  t.same(ok.json().events.map((e: any) => e.seq), [2, 3], 'seqs continue without a gap')
  t.same((await app.inject({ method: 'GET', url: '/set-aside' })).json().lines, [], 'prompts are not set aside')
  t.equal(await metric(app, 'agentlog_writes_refused_total'), 1)
})

test('a storage outage sets nothing aside, and waits on the writer end by their deadline with 503 write_timeout', async (t) => {
  const databasePath = tempDatabasePath(t)
  const app = await build(t, { databasePath, env: { WRITE_TIMEOUT_MS: '600', CLEAR_CONTEXT_WAIT_MS: '0' } })
  const a = await app.injectWS('/ws/agent-a')
  t.teardown(() => a.terminate())
  const inbox = collect(a)
  a.send(line(assistantText('before')))
  await sync(app, a, inbox)

  // another connection holds the write lock: every write fails (SQLite) or waits (PostgreSQL)
  let release: () => void = () => {}
  let held: Promise<unknown>
  if (postgres) {
    let locked: () => void = () => {}
    const isLocked = new Promise<void>(resolve => { locked = resolve })
    const done = new Promise<void>(resolve => { release = resolve })
    held = app.db.transaction().execute(async (trx) => {
      await sql`lock table conversation_events in exclusive mode`.execute(trx)
      locked()
      await done
    })
    await isLocked
  } else {
    const other = new SQLite(databasePath)
    other.exec('begin immediate')
    release = () => { if (other.open) { other.exec('rollback'); other.close() } }
    held = Promise.resolve()
  }
  t.teardown(() => release())

  a.send(line(assistantText('during 1')))
  a.send(line(assistantText('during 2')))
  const file = 'b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl'
  const transcript = readFileSync(join(fixturesDir(), 'claude-code-2.1.331-transcripts', 'projects', '-home-dev-project', file), 'utf8')
  for (const [what, request] of [
    ['prompt', { url: '/agents/agent-a/messages', payload: { content: 'hi' } }],
    ['clear-context', { url: '/agents/agent-a/clear-context' }],
    ['import', { url: `/agents/agent-a/import?file=${file}`, headers: { 'content-type': 'application/x-ndjson' }, payload: transcript }]
  ] as const) {
    const started = Date.now()
    const res = await app.inject({ method: 'POST', ...request })
    const ms = Date.now() - started
    t.equal(res.statusCode, 503, `${what}: 503`)
    t.equal(res.json().code, 'write_timeout', `${what}: write_timeout`)
    t.ok(ms >= 500 && ms < boundFor(600, 10000), `${what}: answered at its deadline (${ms} ms for 600)`)
  }

  release()
  await held
  await sync(app, a, inbox)
  const contents = (await walk(app, 'agent-a')).map(e => e.content)
  t.same(contents.filter(c => typeof c === 'string' && c.startsWith('during')), ['during 1', 'during 2'], 'the lines queued during the outage are stored, in order')
  t.notOk((await walk(app, 'agent-a')).some(e => e.metadata?.source !== undefined), 'the import answered 503 wrote nothing')
  t.same((await app.inject({ method: 'GET', url: '/set-aside' })).json().lines, [], 'nothing set aside')
  t.equal(await metric(app, 'agentlog_lines_set_aside_total'), 0)
})
