// A tool call waiting for a person survives kill -9 of the server: after the restart it is still listed, the
// agent's re-asked request is the same one, and the decision reaches the agent once.
import { test } from 'tap'
import type WebSocket from 'ws'
import { tempDatabasePath } from './helper.js'
import { allEvents, getJson, openAgent, startServer, waitFor } from './support/server-process.js'

function answers (ws: WebSocket): any[] {
  const got: any[] = []
  ws.on('message', (data) => {
    for (const text of data.toString().split('\n')) if (text.trim() !== '') got.push(JSON.parse(text))
  })
  return got
}

test('kill -9 while a request waits: listed after the restart, decided once', async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { TOOL_POLICY: 'ask:Bash' }
  const ask = {
    type: 'control_request',
    request_id: 'req-crash',
    request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'make deploy' }, tool_use_id: 'toolu_crash' }
  }
  const use = {
    type: 'assistant',
    message: { id: 'msg_crash', role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'tool_use', id: 'toolu_crash', name: 'Bash', input: { command: 'make deploy' } }] },
    session_id: 's',
    uuid: 'uuid-crash'
  }

  let server = await startServer(t, { databasePath, env })
  let ws = await openAgent(server.wsUrl, 'crash-1')
  ws.send(JSON.stringify(use) + '\n' + JSON.stringify(ask) + '\n')
  const before = await waitFor('the request to be listed', async () => {
    const { body } = await getJson(`${server.url}/approvals`)
    return body.approvals.find((a: any) => a.seq !== null)
  })
  await server.kill()
  ws.terminate()

  server = await startServer(t, { databasePath, env })
  t.same((await getJson(`${server.url}/approvals`)).body.approvals, [before], 'still waiting after kill -9')
  ws = await openAgent(server.wsUrl, 'crash-1', 'uuid-crash')
  t.teardown(() => ws.terminate())
  const got = answers(ws)
  ws.send(JSON.stringify(ask) + '\n')
  const decided = await getJson(`${server.url}/agents/crash-1/approvals/req-crash`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ behavior: 'allow' })
  })
  t.equal(decided.status, 200)
  t.match(decided.body, { behavior: 'allow', delivered: true })
  t.ok(decided.body.waited_ms >= 0)
  await waitFor('the answer', () => got.some(m => m.type === 'control_response') ? true : undefined)
  t.same(got.filter(m => m.type === 'control_response'), [
    { type: 'control_response', response: { subtype: 'success', request_id: 'req-crash', response: { behavior: 'allow', updatedInput: ask.request.input } } }
  ], 'answered once')
  const events = await waitFor('the decision stored', async () => {
    const all = await allEvents(server.url, 'crash-1')
    return all.some(e => e.event_type === 'permission_decided') ? all : undefined
  })
  t.same(events.map(e => e.event_type), ['tool_use', 'permission_requested', 'permission_decided'], 'one request, one decision')
})
