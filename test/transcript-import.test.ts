// POST /agents/:id/import with Claude Code's own transcripts: the same events as live, stored exactly once.
import { test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { build as buildApp, collect, fixturesDir, postgresSchema, postgresUrl, sessionsOf, sync, walk, type BuildOptions } from './helper.js'

const DIR = join(fixturesDir(), 'claude-code-2.1.331-transcripts')
const PROJECT = join(DIR, 'projects', '-home-dev-project')
const BEFORE_CLEAR = 'b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl'
const AFTER_CLEAR = '4cfc1751-0d6a-495b-8de8-641c95cf5db8.jsonl'
const FILES = [BEFORE_CLEAR, AFTER_CLEAR]
const LIVE: any[] = JSON.parse(readFileSync(join(DIR, 'server-events.json'), 'utf8'))
/** What a transcript cannot hold: turn results, activity changes, the agent's answer to /clear. */
const NOT_IN_TRANSCRIPTS = new Set(['result', 'activity_changed', 'context_clear_outcome'])

function fixture (file: string): string {
  return readFileSync(join(PROJECT, file), 'utf8')
}

async function importText (app: FastifyInstance, agentId: string, file: string, body: string | Buffer, query = '', headers: Record<string, string> = {}) {
  const res = await app.inject({
    method: 'POST',
    url: `/agents/${agentId}/import?file=${encodeURIComponent(file)}${query}`,
    headers: { 'content-type': 'application/x-ndjson', ...headers },
    payload: body
  })
  return res
}

async function importOk (app: FastifyInstance, agentId: string, file: string, body: string | Buffer, query = '', headers: Record<string, string> = {}) {
  const res = await importText(app, agentId, file, body, query, headers)
  if (res.statusCode !== 200) throw new Error(`import ${res.statusCode}: ${res.body}`)
  return res.json()
}

function withoutSource (metadata: any): any {
  if (metadata === null) return null
  const { source, ...rest } = metadata
  return rest
}

/** The comparable part of a content event: type, session, content, and the metadata live lines carry. */
function contentView (e: any): any {
  const view: any = { session_number: e.session_number, event_type: e.event_type, content: e.content }
  if (e.event_type === 'output' || e.event_type === 'thinking' || e.event_type === 'tool_use' || e.event_type === 'tool_result') {
    view.metadata = withoutSource(e.metadata)
  }
  return view
}

/** The stream-json line the relay sent for a transcript record (same uuid, message and session). */
function liveLine (record: any): string {
  return JSON.stringify({ type: record.type, message: record.message, parent_tool_use_id: null, session_id: record.sessionId, uuid: record.uuid }) + '\n'
}

function records (file: string): any[] {
  return fixture(file).split('\n').filter(l => l !== '').map(l => JSON.parse(l))
}

/** Replays the run live: prompts through the operator route, the CLI's lines over the agent socket. */
async function replayLive (t: any, app: FastifyInstance, agentId: string): Promise<void> {
  const ws = await app.injectWS(`/ws/${agentId}`)
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  let total = 0
  for (const file of FILES) {
    if (file === AFTER_CLEAR) {
      const clear = await app.inject({ method: 'POST', url: `/agents/${agentId}/clear-context` })
      t.equal(clear.statusCode, 200)
      total = 0
    }
    for (const r of records(file)) {
      if (r.type === 'user' && typeof r.message.content === 'string' && !r.message.content.startsWith('<')) {
        await sync(app, ws, inbox)
        const res = await app.inject({ method: 'POST', url: `/agents/${agentId}/messages`, payload: { content: r.message.content } })
        t.equal(res.statusCode, 202)
      } else if (r.type === 'assistant' || (r.type === 'user' && Array.isArray(r.message.content))) {
        ws.send(liveLine(r))
      } else if (r.type === 'cost-state') {
        total = r.totalCostUSD
      }
    }
    ws.send(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, num_turns: 1, result: 'ok', session_id: 's', total_cost_usd: total, usage: {}, uuid: `result-${file}` }) + '\n')
  }
  await sync(app, ws, inbox)
}

/** The fixture with its timestamps moved to now, as if Claude Code had written it during the live run. */
function shiftedToNow (file: string): string {
  const rs = records(file)
  const firstFixture = Date.parse(records(BEFORE_CLEAR).find(r => typeof r.timestamp === 'string').timestamp)
  const delta = Date.now() - firstFixture
  return rs.map(r => JSON.stringify(typeof r.timestamp === 'string' ? { ...r, timestamp: new Date(Date.parse(r.timestamp) + delta).toISOString() } : r)).join('\n') + '\n'
}

const BACKENDS = ['sqlite', 'postgres'] as const
type Backend = typeof BACKENDS[number]
const skipFor = (backend: Backend) => backend === 'postgres' && postgresUrl === '' ? 'DATABASE_URL is not set' : false

/** The real app on a fresh database of this kind. */
async function build (t: any, backend: Backend, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const env = backend === 'postgres' ? await postgresSchema(t) : {}
  return await buildApp(t, { ...opts, env: { ...env, ...opts.env } })
}

for (const backend of BACKENDS) {
  test(`${backend}: the fixture imports into exactly the content events the server stored live for the same run`, { skip: skipFor(backend) }, async (t) => {
    const app = await build(t, backend)
    const first = await importOk(app, 'transcript-demo', BEFORE_CLEAR, fixture(BEFORE_CLEAR))
    const second = await importOk(app, 'transcript-demo', AFTER_CLEAR, fixture(AFTER_CLEAR))
    t.same(first.sessions, [0])
    t.same(second.sessions, [1])
    t.equal(first.partial_line, false)
    t.equal(first.duplicates, 0)
    t.ok(first.skipped.attachment > 0, 'bookkeeping records are counted as skipped')
    t.ok(first.skipped['cost-state'] === undefined, 'cost records are not skipped: they give the totals')

    const imported = await walk(app, 'transcript-demo')
    const expected = LIVE.filter(e => !NOT_IN_TRANSCRIPTS.has(e.event_type)).map(contentView)
    t.same(imported.map(contentView), expected, 'same types, sessions, content, uuids and order')
    t.same(imported.map(e => e.seq), imported.map((_, i) => i + 1), 'gapless seq')

    // created_at is the transcript's own time, and every event says where it came from
    const records = fixture(BEFORE_CLEAR).split('\n').filter(l => l !== '').map(l => JSON.parse(l))
    const hello = imported.find(e => e.event_type === 'output')
    const helloRecord = records.find(r => r.uuid === hello.metadata.uuid)
    t.equal(hello.created_at, helloRecord.timestamp)
    t.same(hello.metadata.source, { kind: 'transcript', file: BEFORE_CLEAR, line: records.indexOf(helloRecord) + 1 })
    const prompt = imported.find(e => e.event_type === 'prompt_sent')
    t.equal(prompt.metadata.uuid, 'efdf9e2c-f199-47f9-b1eb-95eb61ab914e', 'an imported prompt keeps its record uuid')
    const cleared = imported.find(e => e.event_type === 'context_cleared')
    t.match(cleared.metadata, { previous_session: 0, session_number: 1, agent_context: 'cleared' })

    // totals from the transcripts' cost-state records equal what the live results added up to
    const { sessions, current_session: current } = await sessionsOf(app, 'transcript-demo')
    t.equal(current, 1)
    t.match(sessions[0], { session_number: 0, cost_usd: 0.005448, input_tokens: 627, output_tokens: 147, first_seq: 1 })
    t.match(sessions[1], { session_number: 1, cost_usd: 0.001016, input_tokens: 109, output_tokens: 29 })
    const liveCost = (n: number) => LIVE.filter(e => e.session_number === n && typeof e.metadata?.cost_usd === 'number')
      .reduce((sum, e) => sum + e.metadata.cost_usd, 0)
    t.equal(sessions[0].cost_usd, Math.round(liveCost(0) * 1e10) / 1e10)
    t.equal(sessions[1].cost_usd, Math.round(liveCost(1) * 1e10) / 1e10)
  })

  test(`${backend}: importing the same transcripts again adds nothing, whole or from the stored position`, { skip: skipFor(backend) }, async (t) => {
    const app = await build(t, backend)
    for (const f of FILES) await importOk(app, 'demo', f, fixture(f))
    const before = await walk(app, 'demo')
    const sessionsBefore = await sessionsOf(app, 'demo')

    for (const f of FILES) {
      const again = await importOk(app, 'demo', f, fixture(f))
      t.equal(again.events_added, 0, `${f}: nothing added`)
      t.equal(again.records, 0, 'lines already read are not read again')
    }
    const positions = (await app.inject({ url: '/agents/demo/imports' })).json()
    for (const f of FILES) {
      const p = positions.files.find((x: any) => x.file === f)
      t.equal(p.offset, Buffer.byteLength(fixture(f)), 'the position is the end of the file')
      const tail = await importOk(app, 'demo', f, '', `&offset=${p.offset}`)
      t.equal(tail.events_added, 0)
    }
    // the same file under another name: every record is found by its uuid in the session that holds it
    const renamed = await importOk(app, 'demo', 'copy.jsonl', fixture(BEFORE_CLEAR))
    t.equal(renamed.events_added, 0)
    t.ok(renamed.duplicates >= 13)
    t.same(await walk(app, 'demo'), before)
    t.same(await sessionsOf(app, 'demo'), sessionsBefore, 'totals unchanged')

    const mismatch = await importText(app, 'demo', BEFORE_CLEAR, '', '&offset=5')
    t.equal(mismatch.statusCode, 409)
    t.equal(mismatch.json().code, 'position_mismatch')
  })

  test(`${backend}: a partly written last line is left for later; gzip bodies are taken`, { skip: skipFor(backend) }, async (t) => {
    const app = await build(t, backend)
    const text = fixture(BEFORE_CLEAR)
    const lines = text.split('\n').filter(l => l !== '')
    // cut in the middle of the "After thinking" assistant record
    const cutLine = lines.findIndex(l => l.includes('After thinking: 42.'))
    const head = lines.slice(0, cutLine).join('\n') + '\n' + lines[cutLine].slice(0, 200)
    const part = await importOk(app, 'partial', BEFORE_CLEAR, gzipSync(head), '', { 'content-encoding': 'gzip' })
    t.equal(part.partial_line, true)
    t.equal(part.offset, Buffer.byteLength(lines.slice(0, cutLine).join('\n') + '\n'))
    t.equal(part.lines, cutLine)
    const mid = await walk(app, 'partial')
    t.notOk(mid.some(e => e.content === 'After thinking: 42.'), 'the broken line is not stored')

    const rest = Buffer.from(text, 'utf8').subarray(part.offset)
    const done = await importOk(app, 'partial', BEFORE_CLEAR, rest, `&offset=${part.offset}`)
    t.equal(done.partial_line, false)
    t.equal(done.offset, Buffer.byteLength(text))
    const all = await walk(app, 'partial')
    t.same(all.map(e => e.session_number), all.map(() => 0), 'the appended lines continue the same session')
    const whole = await build(t, backend)
    await importOk(whole, 'whole', BEFORE_CLEAR, text)
    t.same(all.map(contentView), (await walk(whole, 'whole')).map(contentView), 'same events as a single import')
    t.same(all.map(e => e.metadata.source.line), (await walk(whole, 'whole')).map(e => e.metadata.source.line), 'same line numbers')

    const bad = await importText(app, 'partial', 'x.jsonl', Buffer.from('not gzip at all'), '', { 'content-encoding': 'gzip' })
    t.equal(bad.statusCode, 400)
    t.equal(bad.json().code, 'invalid_gzip')
    const brotli = await importText(app, 'partial', 'x.jsonl', 'x', '', { 'content-encoding': 'br' })
    t.equal(brotli.statusCode, 415)
  })

  test(`${backend}: unknown record types and broken lines are skipped and counted, never an error`, { skip: skipFor(backend) }, async (t) => {
    const app = await build(t, backend)
    const body = [
      JSON.stringify({ type: 'hologram', sessionId: 's', timestamp: '2026-11-29T06:00:00.000Z' }),
      '{not json',
      JSON.stringify({ type: 'user', uuid: 'u-1', sessionId: 's', timestamp: '2026-11-29T06:00:01.000Z', message: { role: 'user', content: 'hi there' } }),
      JSON.stringify({ type: 'queue-operation', operation: 'enqueue' }),
      ''
    ].join('\n')
    const r = await importOk(app, 'odd', 's.jsonl', body)
    t.same(r.unknown, { hologram: 1 })
    t.same(r.skipped, { 'queue-operation': 1 })
    t.equal(r.invalid, 1)
    t.equal(r.events_added, 1)
    const [prompt] = await walk(app, 'odd')
    t.match(prompt, { event_type: 'prompt_sent', content: 'hi there', created_at: '2026-11-29T06:00:01.000Z' })
  })

  test(`${backend}: importing a session the server saw live adds nothing`, { skip: skipFor(backend) }, async (t) => {
    const app = await build(t, backend, { env: { CLEAR_CONTEXT_WAIT_MS: '50' } })
    await replayLive(t, app, 'both')
    const live = await walk(app, 'both')
    t.ok(live.some(e => e.event_type === 'tool_result'), 'the live run is stored')
    for (const f of FILES) {
      const r = await importOk(app, 'both', f, shiftedToNow(f))
      t.equal(r.events_added, 0, `${f}: nothing added`)
      t.ok(r.duplicates > 0)
      t.same(r.sessions, [])
    }
    t.same(await walk(app, 'both'), live)
    const positions = (await app.inject({ url: '/agents/both/imports' })).json()
    t.equal(positions.files.length, 2, 'the files are still marked as read')
  })

  test(`${backend}: live lines of a session already imported add nothing`, { skip: skipFor(backend) }, async (t) => {
    const app = await build(t, backend)
    for (const f of FILES) await importOk(app, 'rev', f, fixture(f))
    const imported = await walk(app, 'rev')
    const ws = await app.injectWS('/ws/rev')
    t.teardown(() => ws.terminate())
    for (const f of FILES) {
      for (const r of records(f)) {
        if (r.type === 'assistant' || (r.type === 'user' && Array.isArray(r.message.content))) ws.send(liveLine(r))
      }
    }
    await sync(app, ws)
    t.same(await walk(app, 'rev'), imported)
  })

  test(`${backend}: the import route needs the operator role`, { skip: skipFor(backend) }, async (t) => {
    const app = await build(t, backend, { env: { AUTH_TOKENS: 'reader:r-1,operator:o-1' } })
    const asReader = await importText(app, 'auth', 'a.jsonl', '', '', { authorization: 'Bearer r-1' })
    t.equal(asReader.statusCode, 403)
    const asOperator = await importText(app, 'auth', 'a.jsonl', fixture(BEFORE_CLEAR), '', { authorization: 'Bearer o-1' })
    t.equal(asOperator.statusCode, 200)
    const positions = await app.inject({ url: '/agents/auth/imports', headers: { authorization: 'Bearer r-1' } })
    t.equal(positions.statusCode, 200)
    const noFile = await app.inject({ method: 'POST', url: '/agents/auth/import', headers: { authorization: 'Bearer o-1', 'content-type': 'application/x-ndjson' }, payload: '' })
    t.equal(noFile.statusCode, 400)
    t.equal(noFile.json().code, 'bad_parameter')
  })
}
