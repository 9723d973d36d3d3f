// GET /agents/:id/export and its way back (POST /agents/:id/import?format=agentlog): an agent moved between servers.
import { test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import {
  assistantText, build, collect, fixturesDir, line, postgresSchema, postgresUrl, resultLine, sessionsOf, sync, walk
} from './helper.js'

const PROJECT = join(fixturesDir(), 'claude-code-2.1.331-transcripts', 'projects', '-home-dev-project')

async function exportText (app: FastifyInstance, agentId: string, query = ''): Promise<string> {
  const res = await app.inject({ url: `/agents/${agentId}/export${query}` })
  if (res.statusCode !== 200) throw new Error(`export ${res.statusCode}: ${res.body}`)
  return res.body
}

async function importExport (app: FastifyInstance, agentId: string, body: string | Buffer) {
  const res = await app.inject({
    method: 'POST',
    url: `/agents/${agentId}/import?format=agentlog`,
    headers: { 'content-type': 'application/x-ndjson' },
    payload: body
  })
  if (res.statusCode !== 200) throw new Error(`import ${res.statusCode}: ${res.body}`)
  return res.json()
}

/** A history with everything in it: live turns with costs, a clear, prompts, and an imported transcript. */
async function richAgent (t: any, app: FastifyInstance, agentId: string): Promise<void> {
  const ws = await app.injectWS(`/ws/${agentId}`)
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(line({ type: 'system', subtype: 'init', session_id: 'sess-1', model: 'claude-sonnet-4-6', cwd: '/home/dev/project' }))
  await sync(app, ws, inbox)
  const prompt = await app.inject({ method: 'POST', url: `/agents/${agentId}/messages`, payload: { content: 'Say "hello" ✓' } })
  t.equal(prompt.statusCode, 202)
  ws.send([assistantText('hello, wörld 🌍'), resultLine(0.25), assistantText('more'), resultLine(0.5)].map(line).join(''))
  await sync(app, ws, inbox)
  const clear = await app.inject({ method: 'POST', url: `/agents/${agentId}/clear-context` })
  t.equal(clear.statusCode, 200)
  ws.send([assistantText('after the clear'), resultLine(0.75)].map(line).join(''))
  await sync(app, ws, inbox)
  for (const f of ['b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl', '4cfc1751-0d6a-495b-8de8-641c95cf5db8.jsonl']) {
    const res = await app.inject({
      method: 'POST',
      url: `/agents/${agentId}/import?file=${f}`,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: readFileSync(join(PROJECT, f))
    })
    t.equal(res.statusCode, 200)
  }
}

function agentOf (listing: any, agentId: string): any {
  const { connected, instance, created_at: createdAt, last_connected_at: lc, last_seen_at: ls, ...rest } = listing.agents.find((a: any) => a.agent_id === agentId)
  return rest
}

const targets: Array<[string, (t: any) => Promise<Record<string, string>>]> = [
  ['sqlite', async () => ({})],
  ['postgres', async (t) => await postgresSchema(t)]
]

for (const [name, env] of targets) {
  test(`export → import into another server (${name}) keeps seq, sessions, totals and info, byte for byte`, { skip: name === 'postgres' && postgresUrl === '' ? 'DATABASE_URL is not set' : false }, async (t) => {
    const source = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '50' } })
    await richAgent(t, source, 'mover')
    const exported = await exportText(source, 'mover')
    const lines = exported.trimEnd().split('\n').map(l => JSON.parse(l))
    t.match(lines[lines.length - 1], { type: 'end', agent_id: 'mover', current_session: 3, info: { model: 'claude-sonnet-4-6' } })
    t.equal(lines.filter(l => l.type === 'session').length, 4, 'two live sessions, two imported transcripts')

    const target = await build(t, { env: await env(t) })
    const first = await importExport(target, 'mover', exported)
    t.equal(first.complete, true)
    t.equal(first.events_added, lines.filter(l => 'event_type' in l).length)
    t.equal(await exportText(target, 'mover'), exported, 'the same export, byte for byte')

    const stripId = (e: any) => { const { id, ...rest } = e; return rest }
    t.same((await walk(target, 'mover')).map(stripId), (await walk(source, 'mover')).map(stripId))
    t.same(await sessionsOf(target, 'mover'), await sessionsOf(source, 'mover'))
    const listing = async (app: FastifyInstance) => agentOf((await app.inject({ url: '/agents' })).json(), 'mover')
    t.same(await listing(target), await listing(source), 'totals, current session and info')

    const again = await importExport(target, 'mover', exported)
    t.equal(again.events_added, 0, 'importing it again adds nothing')
    t.equal(again.duplicates, first.events_added)
    t.equal(await exportText(target, 'mover'), exported)
  })
}

test('export: one session, after a seq, gzip when asked, 404 for an unknown agent', async (t) => {
  const app = await build(t, { env: { CLEAR_CONTEXT_WAIT_MS: '50' } })
  await richAgent(t, app, 'x')
  const all = (await exportText(app, 'x')).trimEnd().split('\n').map(l => JSON.parse(l))
  const events = all.filter(l => 'event_type' in l)
  t.same(events.map(e => e.seq), events.map((_, i) => i + 1), 'every event, in seq order')
  t.notOk('id' in events[0], 'no server-local id')

  const one = (await exportText(app, 'x', '?session=1')).trimEnd().split('\n').map(l => JSON.parse(l))
  t.same(one.filter(l => 'event_type' in l), events.filter(e => e.session_number === 1))
  t.same(one.filter(l => l.type === 'session').map(s => s.session_number), [1])

  const after = (await exportText(app, 'x', '?after=5')).trimEnd().split('\n').map(l => JSON.parse(l))
  t.same(after.filter(l => 'event_type' in l), events.filter(e => e.seq > 5))

  const gz = await app.inject({ url: '/agents/x/export', headers: { 'accept-encoding': 'gzip, deflate' } })
  t.equal(gz.headers['content-encoding'], 'gzip')
  t.match(gz.headers['content-type'], /application\/x-ndjson/)
  t.equal(gunzipSync(gz.rawPayload).toString('utf8'), await exportText(app, 'x'))
  const plain = await app.inject({ url: '/agents/x/export', headers: { 'accept-encoding': 'gzip;q=0' } })
  t.equal(plain.headers['content-encoding'], undefined)

  const missing = await app.inject({ url: '/agents/nobody/export' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'agent_not_found')
  const bad = await app.inject({ url: '/agents/x/export?session=-1' })
  t.equal(bad.statusCode, 400)
})

test('an export is one consistent snapshot while writes continue', async (t) => {
  const app = await build(t)
  const ws = await app.injectWS('/ws/busy')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  const batch = () => Array.from({ length: 500 }, (_, i) => line(assistantText(`line ${i}`))).join('')
  for (let i = 0; i < 6; i++) ws.send(batch())
  await sync(app, ws, inbox)
  // more lines keep arriving while the export is read
  const writing = (async () => { for (let i = 0; i < 6; i++) { ws.send(batch()); await new Promise(resolve => setImmediate(resolve)) } })()
  const text = await exportText(app, 'busy')
  await writing
  await sync(app, ws, inbox)
  const lines = text.trimEnd().split('\n').map(l => JSON.parse(l))
  const events = lines.filter(l => 'event_type' in l)
  const end = lines[lines.length - 1]
  t.ok(events.length >= 3000)
  t.same(events.map(e => e.seq), events.map((_, i) => i + 1), 'no gap')
  t.equal(end.last_seq, events.length, 'the end line describes the same snapshot')
  const session = lines.find(l => l.type === 'session')
  t.equal(session.last_seq, events.length, 'and so do the session totals')
})

test('a broken export line is refused with its line number', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST',
    url: '/agents/y/import?format=agentlog',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: '{"agent_id":"y","session_number":0,"seq":1,"event_type":"output","content":"a","metadata":null,"created_at":"2026-01-01T00:00:00.000Z"}\n{"seq":"two"}\n'
  })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'invalid_line')
  t.match(res.json().message, /^line 2:/)
})
