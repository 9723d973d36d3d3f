// The typed client through a real listening server: typed calls, error codes, history walks and a resuming live stream.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, collect, sync, line, assistantText, listen, walk, type TestContext } from './helper.js'
import { AgentlogError, createClient, type StoredEvent } from '../src/client/index.js'

async function serve (t: TestContext, env: Record<string, string> = {}): Promise<{ app: FastifyInstance, baseUrl: string }> {
  const app = await build(t, { env })
  const baseUrl = (await listen(app)).replace(/^ws:/, 'http:')
  return { app, baseUrl }
}

/** An agent on an in-process socket; write() resolves once its lines are committed. */
async function agent (t: TestContext, app: FastifyInstance, id: string) {
  const ws = await app.injectWS(`/ws/${id}`)
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  return {
    async write (count: number, tag = '') {
      ws.send(Array.from({ length: count }, (_, i) => line(assistantText(`${tag}${i}`))).join(''))
      await sync(app, ws, inbox)
    }
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Collects what an async iterator yields until `done` says enough, within a deadline. */
function gather (it: AsyncGenerator<StoredEvent>) {
  const got: StoredEvent[] = []
  const waiters: Array<{ n: number, resolve: () => void }> = []
  const finished = (async () => {
    for await (const e of it) {
      got.push(e)
      for (const w of waiters.filter(w => got.length >= w.n)) { waiters.splice(waiters.indexOf(w), 1); w.resolve() }
    }
  })()
  return {
    got,
    finished,
    async count (n: number, timeoutMs = 10000): Promise<void> {
      if (got.length >= n) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} events within ${timeoutMs} ms`)), timeoutMs)
        waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
      })
    }
  }
}

test('typed calls answer what the routes answer', async (t) => {
  const { app, baseUrl } = await serve(t)
  const client = createClient({ baseUrl })
  const a = await agent(t, app, 'agent-1')
  await a.write(3)

  const { agents } = await client.listAgents()
  t.same(agents.map(x => [x.agent_id, x.connected, x.last_seq]), [['agent-1', true, 3]])
  const page = await client.events('agent-1', { limit: 2, order: 'desc' })
  t.same(page.events.map(e => e.seq), [3, 2])
  t.equal(page.next_cursor, 2)
  const sent = await client.sendPrompt('agent-1', 'hello')
  t.same(sent.events.map(e => e.event_type), ['prompt_sent', 'activity_changed'])
  t.equal(sent.events[0].content, 'hello')
  const { sessions, current_session: current } = await client.sessions('agent-1')
  t.equal(sessions.length, 1)
  t.equal(current, sessions[0].session_number)
  t.same(await client.approvals.list(), { approvals: [] })
  t.same(await client.rules.list('agent-1'), { rules: [] })
  t.same(await client.whoami(), { access_control: false, role: null })
  t.equal((await client.health.live()).status, 'ok')
  t.equal((await client.health.ready()).status, 'ok')
  t.same(await client.imports('agent-1'), { files: [] })
  const exported = await new Response(await client.exportLog('agent-1')).text()
  t.equal(exported.split('\n').filter(l => l.includes('"seq"')).length >= 5, true, 'the export holds the events')
})

test('errors carry the status, code and message of the body', async (t) => {
  const { baseUrl } = await serve(t)
  const client = createClient({ baseUrl })
  const notFound = await client.sessions('nobody').catch((err: unknown) => err)
  t.type(notFound, AgentlogError)
  t.match(notFound, { status: 404, code: 'agent_not_found', message: /nobody/ })
  const notConnected = await client.sendPrompt('nobody', 'hi').catch((err: unknown) => err)
  t.match(notConnected, { status: 409, code: 'agent_not_connected' })
  const bad = await client.events('nobody', { limit: 0 }).catch((err: unknown) => err)
  t.match(bad, { status: 400, code: 'bad_parameter', message: /limit/ })
  await t.rejects(client.rules.delete('nobody', 'r-1'), { status: 404, code: 'rule_not_found' })
})

test('the token goes with every call; without it, 401 unauthorized', async (t) => {
  const { baseUrl } = await serve(t, { AUTH_TOKENS: 'reader:r1' })
  t.same(await createClient({ baseUrl, token: 'r1' }).whoami(), { access_control: true, role: 'reader' })
  await t.rejects(createClient({ baseUrl }).listAgents(), { status: 401, code: 'unauthorized' })
  await t.rejects(createClient({ baseUrl, token: 'r1' }).sendPrompt('a', 'x'), { status: 403, code: 'forbidden' })
})

test('walkEvents visits every event once, in both orders, across pages', async (t) => {
  const { app, baseUrl } = await serve(t)
  const client = createClient({ baseUrl })
  const a = await agent(t, app, 'agent-1')
  await a.write(23)
  const stored = (await walk(app, 'agent-1')).map((e: any) => e.seq)
  t.same(stored, range(1, 23))

  const asc: number[] = []
  for await (const e of client.walkEvents('agent-1', { limit: 5 })) asc.push(e.seq)
  t.same(asc, range(1, 23))
  const desc: number[] = []
  for await (const e of client.walkEvents('agent-1', { limit: 4, order: 'desc' })) desc.push(e.seq)
  t.same(desc, range(1, 23).reverse())
  const part: number[] = []
  for await (const e of client.walkEvents('agent-1', { limit: 3, after: 10, before: 20 })) part.push(e.seq)
  t.same(part, range(11, 19), 'the bounds hold across pages')
  const one: number[] = []
  for await (const e of client.walkEvents('agent-1', { limit: 1000 })) one.push(e.seq)
  t.same(one, range(1, 23), 'one page')
})

test('followEvents: history, then live, and resumes after dropped connections without gap or double', async (t) => {
  const { app, baseUrl } = await serve(t)
  const opened: string[] = []
  const client = createClient({
    baseUrl,
    fetch: async (input, init) => {
      if (String(input).includes('/events/stream')) opened.push(new URL(String(input)).search)
      return await fetch(input, init)
    }
  })
  const a = await agent(t, app, 'agent-1')
  await a.write(5)

  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const follow = gather(client.followEvents('agent-1', { after: 2, signal: stop.signal, retryMs: 20 }))
  await follow.count(3)
  t.same(follow.got.map(e => e.seq), range(3, 5), 'starts after `after`')

  await a.write(4)
  await follow.count(7)
  // the server drops every HTTP connection, the stream with it, several times while the agent writes
  for (let round = 0; round < 3; round++) {
    const seen = follow.got.length
    app.server.closeAllConnections()
    await a.write(5)
    await follow.count(seen + 5)
  }
  await follow.count(22)
  await a.write(2)
  await follow.count(24)
  stop.abort()
  await follow.finished
  t.same(follow.got.map(e => e.seq), range(3, 26), 'every event once, in order')
  t.equal(opened.length, 4, 'one connection, then one after each drop')
  t.same(opened.slice(1), ['?after=9', '?after=14', '?after=19'], 'each resumes from the last seq received')
  t.same(follow.got.map(e => e.id), (await walk(app, 'agent-1', 'after=2')).map((e: any) => e.id), 'the events history holds')
})

test('followEvents: a bad query or an unknown filter is an error, not a retry loop', async (t) => {
  const { baseUrl } = await serve(t)
  const client = createClient({ baseUrl })
  const it = client.followEvents('agent-1', { session: -1 })
  await t.rejects(it.next(), { status: 400, code: 'bad_parameter' })
})

test('every POST carries an Idempotency-Key: a fresh one, or the one given to retry safely', async (t) => {
  const { app, baseUrl } = await serve(t)
  const ws = await app.injectWS('/ws/agent-k')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(line(assistantText('ready')))
  await sync(app, ws, inbox)
  const keys: Array<string | null> = []
  const client = createClient({
    baseUrl,
    fetch: async (input, init) => {
      keys.push(new Headers(init?.headers).get('idempotency-key'))
      return await fetch(input, init)
    }
  })
  await client.listAgents()
  const first = await client.sendPrompt('agent-k', 'once', { idempotencyKey: 'retry-me' })
  const retried = await client.sendPrompt('agent-k', 'once', { idempotencyKey: 'retry-me' })
  t.same(retried, first, 'the retry answers the first answer')
  await client.sendPrompt('agent-k', 'twice')
  await client.sendPrompt('agent-k', 'twice')
  t.equal(keys[0], null, 'a GET carries none')
  t.same(keys.slice(1, 3), ['retry-me', 'retry-me'])
  t.match(keys[3], /^[0-9a-f-]{36}$/, 'a fresh UUID by default')
  t.not(keys[3], keys[4], 'a new one each call')
  await sync(app, ws, inbox)
  t.same(inbox.lines.filter(m => m.type === 'user').map(m => m.message.content), ['once', 'twice', 'twice'], 'the retried prompt ran once')
})
