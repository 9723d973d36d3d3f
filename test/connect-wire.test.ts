// `agentlog connect` with the real Claude Code CLI (2.1.112) against a bare WebSocket server, to see exactly what
// goes over the wire (frames, headers, replays, the /clear restart); and its command line and launcher.
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { sqlitePassOnly } from './helper.js'
import { WebSocketServer, type WebSocket } from 'ws'
import { offlineSetup, startConnector, waitFor } from './support/claude-cli.js'

interface Conn { headers: Record<string, string | string[] | undefined>, frames: string[], ws: WebSocket }

async function bareServer (t: { teardown: (fn: () => unknown) => void }): Promise<{ url: string, conns: Conn[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>(resolve => wss.once('listening', () => resolve()))
  const conns: Conn[] = []
  wss.on('connection', (ws, req) => {
    const conn: Conn = { headers: req.headers, frames: [], ws }
    conns.push(conn)
    ws.on('message', (data) => { conn.frames.push(data.toString()) })
  })
  t.teardown(() => new Promise<void>((resolve) => {
    for (const ws of wss.clients) ws.terminate()
    wss.close(() => resolve())
  }))
  const address = wss.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { url: `ws://127.0.0.1:${address.port}`, conns }
}

function prompt (content: string): string {
  return JSON.stringify({ type: 'user', message: { role: 'user', content }, parent_tool_use_id: null, session_id: '' }) + '\n'
}

function lines (conn: Conn): any[] {
  return conn.frames.map(f => JSON.parse(f))
}

test('agentlog connect on the wire: one line per frame, x-last-request-id on reconnect, replay, re-sent permission request', { skip: sqlitePassOnly }, async (t) => {
  const setup = await offlineSetup(t)
  const server = await bareServer(t)
  startConnector(t, setup, { server: server.url, agentId: 'wire' })
  // the connector starts through the TypeScript loader: slow on a loaded machine
  await waitFor('the first connection', () => server.conns.length === 1 ? true : undefined, 60000)
  const c1 = server.conns[0]
  t.equal(c1.headers['x-last-request-id'], undefined, 'a first connection has no x-last-request-id')

  c1.ws.send(prompt('WRITE_FILE please'))
  const request = await waitFor('the permission request', () => lines(c1).find(m => m.type === 'control_request'))
  t.equal(request.request.subtype, 'can_use_tool')
  t.equal(request.request.tool_name, 'Write')
  t.ok(c1.frames.every(f => f.endsWith('\n') && f.indexOf('\n') === f.length - 1), 'each frame is one line ending with a newline')
  const sent = lines(c1).filter(m => typeof m.uuid === 'string').map(m => m.uuid)
  t.ok(sent.length >= 2, 'init and the tool_use line were sent')

  // drop the socket without answering: the CLI still waits for the answer
  c1.ws.terminate()
  await waitFor('the reconnection', () => server.conns.length === 2 ? true : undefined, 10000)
  const c2 = server.conns[1]
  t.equal(c2.headers['x-last-request-id'], sent[sent.length - 1], 'a reconnect names the last line sent')
  await waitFor('the re-sent permission request', () => lines(c2).some(m => m.request_id === request.request_id) ? true : undefined)
  t.same(lines(c2).filter(m => typeof m.uuid === 'string').map(m => m.uuid), sent, 'the recent lines were re-sent, same uuids, same order')

  c2.ws.send(JSON.stringify({
    type: 'control_response',
    response: { subtype: 'success', request_id: request.request_id, response: { behavior: 'deny', message: 'denied on the second connection' } }
  }) + '\n')
  const result = await waitFor('the result', () => lines(c2).find(m => m.type === 'result'))
  t.equal(result.is_error, false)
  const toolResult = lines(c2).find(m => m.type === 'user' && Array.isArray(m.message?.content) && m.message.content[0]?.type === 'tool_result')
  t.match(toolResult.message.content[0], { is_error: true, content: 'denied on the second connection' })
  t.equal(lines(c2).filter(m => m.request_id === request.request_id).length, 1, 'the answered request is not sent again')
})

test('agentlog connect on the wire: a refused /clear becomes a fresh CLI, and prompts queued behind it go to the new one', { skip: sqlitePassOnly }, async (t) => {
  const setup = await offlineSetup(t)
  const server = await bareServer(t)
  startConnector(t, setup, { server: server.url, agentId: 'wire-clear' })
  await waitFor('the connection', () => server.conns.length === 1 ? true : undefined)
  const c = server.conns[0]
  c.ws.send(prompt('Say hello'))
  const firstResult = await waitFor('the first result', () => lines(c).find(m => m.type === 'result'))
  const oldSession = firstResult.session_id

  // the clear and the next prompt back to back, as an operator might send them
  c.ws.send(prompt('/clear'))
  c.ws.send(prompt('Say hello after the clear'))
  await waitFor('the answer after the clear', () => lines(c).some(m => m.type === 'result' && m.result?.includes('after the clear')) ? true : undefined)
  const all = lines(c)
  const after = all.slice(all.findIndex(m => m.uuid === firstResult.uuid) + 1)
  // the clear turn's init goes out before the refusal is known; the refusal itself does not
  t.same(after.map(m => `${m.type}${m.subtype !== undefined ? '/' + m.subtype : ''}`),
    ['system/init', 'conversation_reset', 'result/success', 'system/init', 'assistant', 'result/success'])
  t.equal(after[0].session_id, oldSession)
  t.match(after[1], { type: 'conversation_reset', trigger: 'clear', new_conversation_id: null, source: 'agentlog-connect' })
  t.match(after[2], { type: 'result', subtype: 'success', is_error: false, num_turns: 0, total_cost_usd: 0, source: 'agentlog-connect' })
  t.ok(typeof after[1].uuid === 'string' && typeof after[2].uuid === 'string' && after[1].uuid !== after[2].uuid, 'synthetic lines carry their own uuids')
  t.not(after[3].session_id, oldSession, 'the new process has a new session')
  t.notOk(lines(c).some(m => JSON.stringify(m).includes("isn't available")), 'nothing of the refusal was forwarded')
  const last = setup.api.requests.filter(r => r.prompt === 'Say hello after the clear')
  t.same(last[last.length - 1].userTexts, ['Say hello after the clear'], 'the model saw a fresh conversation')
})

test('agentlog connect on the wire: reconnects after 1000 and 1001 as the same process, stops for good on 1002', { skip: sqlitePassOnly }, async (t) => {
  const setup = await offlineSetup(t)
  const server = await bareServer(t)
  const conn = startConnector(t, setup, { server: server.url, agentId: 'wire-codes' })
  await waitFor('the connection', () => server.conns.length === 1 ? true : undefined)
  server.conns[0].ws.send(prompt('Say hello'))
  const result = await waitFor('the result', () => lines(server.conns[0]).find(m => m.type === 'result'))
  server.conns[0].ws.close(1000, 'bye')
  await waitFor('a reconnection after 1000', () => server.conns.length === 2 ? true : undefined)
  t.equal(server.conns[1].headers['x-last-request-id'], result.uuid)
  server.conns[1].ws.close(1001, 'server shutting down')
  await waitFor('a reconnection after 1001', () => server.conns.length === 3 ? true : undefined)
  t.equal(server.conns[2].headers['x-last-request-id'], result.uuid)
  server.conns[2].ws.close(1002, 'protocol error')
  t.same(await conn.waitExit(), { code: 1, signal: null })
  t.match(conn.stderr(), /closed the agent socket with 1002 \(protocol error: protocol error\); not reconnecting/)
  t.equal(server.conns.length, 3, 'no further connection')
})

test('bin/agentlog.js says to build when dist/ is missing', { skip: sqlitePassOnly }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-bin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'bin'))
  copyFileSync(fileURLToPath(new URL('../bin/agentlog.js', import.meta.url)), join(dir, 'bin', 'agentlog.js'))
  const { code, stderr } = await new Promise<{ code: number, stderr: string }>((resolve) => {
    execFile(process.execPath, [join(dir, 'bin', 'agentlog.js'), 'connect', '--agent', 'a'], { timeout: 20000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number(err.code), stderr })
    })
  })
  t.equal(code, 1)
  t.match(stderr, /dist\/bundle\/main\.js is missing; run `npm run build`/)
})
