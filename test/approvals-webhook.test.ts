// APPROVAL_WEBHOOK_URL against a local receiver: one POST per waiting request, retried with backoff, never
// holding up the agent or the decision; and the request shapes for a JSON receiver, Slack and ntfy.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, collect, line, LOAD_MARGIN_MS } from './helper.js'
import { waitFor } from './support/server-process.js'
import { createNotifier, inputSummary, webhookRequest, type ApprovalNotice } from '../src/approvals/webhook.js'

interface Received { at: number, path: string, body: any, respond: (status: number) => void }

async function receiver (t: { teardown: (fn: () => unknown) => void }, answer: (n: number) => number | 'hold') {
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const entry: Received = {
        at: Date.now(),
        path: req.url ?? '',
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        respond: (status) => { res.writeHead(status).end() }
      }
      received.push(entry)
      const status = answer(received.length)
      if (status !== 'hold') entry.respond(status)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received }
}

const notice: ApprovalNotice = {
  agent_id: 'build-1',
  request_id: 'req-1',
  tool_name: 'Bash',
  summary: 'git push origin main',
  decide_url: 'https://agentlog.example.com/agents/build-1/approvals/req-1',
  requested_at: '2026-11-29T08:00:00.000Z'
}

test('a waiting request is announced; a failed POST is retried with backoff; neither holds anything up', async (t) => {
  const hook = await receiver(t, n => n === 1 ? 'hold' : 200)
  const app: FastifyInstance = await build(t, {
    env: { TOOL_POLICY: 'ask:Bash', APPROVAL_WEBHOOK_URL: `${hook.url}/hook`, PUBLIC_URL: 'https://agentlog.example.com/' }
  })
  const ws = await app.injectWS('/ws/build-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(line({
    type: 'control_request',
    request_id: 'req-1',
    request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'git push origin main', description: 'Publish' }, tool_use_id: 'toolu_1' }
  }))
  await waitFor('the webhook to be called', () => hook.received.length === 1 ? true : undefined)
  t.equal(hook.received[0].path, '/hook')
  t.same(hook.received[0].body, { ...notice, requested_at: hook.received[0].body.requested_at, text: 'Agent build-1 wants to run Bash: git push origin main' })

  // the receiver has not answered: the request is listed and decided all the same
  const listed = (await app.inject({ method: 'GET', url: '/approvals' })).json().approvals
  t.same(listed.map((a: any) => a.request_id), ['req-1'])
  const decided = await app.inject({ method: 'POST', url: '/agents/build-1/approvals/req-1', payload: { behavior: 'allow' } })
  t.equal(decided.statusCode, 200)
  await inbox.next(m => m.type === 'control_response' && m.response.request_id === 'req-1')

  const failedAt = Date.now()
  hook.received[0].respond(503)
  await waitFor('the retry', () => hook.received.length === 2 ? true : undefined, 15000)
  const wait = hook.received[1].at - failedAt
  t.ok(wait >= 900 && wait < 10000, `retried ${wait} ms after the failure (backoff 1 s)`)
  t.same(hook.received[1].body, hook.received[0].body, 'the same notice')

  // secrets in the command stay home
  ws.send(line({
    type: 'control_request',
    request_id: 'req-2',
    request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'curl -H "Authorization: Bearer sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789" https://x' }, tool_use_id: 'toolu_2' }
  }))
  await waitFor('the second notice', () => hook.received.length === 3 ? true : undefined)
  t.notMatch(hook.received[2].body.summary, /sk-ant-api03/)
  t.match(hook.received[2].body.summary, /\[REDACTED\]/)
})

test('retries stop after the last attempt, and on close', async (t) => {
  const hook = await receiver(t, () => 500)
  const warnings: any[] = []
  const log = { warn: (obj: object) => { warnings.push(obj) }, info: () => {} }
  const notifier = createNotifier({ url: hook.url, format: 'json', log, attempts: 3, backoffMs: 20 })
  const started = Date.now()
  notifier.notify(notice)
  await waitFor('the last attempt', () => warnings.some(w => w.attempts === 3) ? true : undefined, 10000)
  t.equal(hook.received.length, 3)
  t.ok(hook.received[2].at - hook.received[1].at >= 35, 'the backoff doubles')
  t.ok(Date.now() - started < 5000)
  await notifier.close()

  const held = await receiver(t, () => 500)
  const slow = createNotifier({ url: held.url, format: 'json', log, attempts: 5, backoffMs: 60000 })
  slow.notify(notice)
  await waitFor('the first attempt', () => held.received.length === 1 ? true : undefined)
  const closing = Date.now()
  await slow.close()
  t.ok(Date.now() - closing < LOAD_MARGIN_MS, 'close does not wait out the backoff (60 s)')
  t.equal(held.received.length, 1)
})

test('request shapes: JSON, Slack-style incoming webhook, ntfy', async (t) => {
  t.same(webhookRequest('https://hooks.example.com/x', 'json', notice), {
    url: 'https://hooks.example.com/x',
    body: { ...notice, text: 'Agent build-1 wants to run Bash: git push origin main' }
  })
  const slack = webhookRequest('https://hooks.slack.com/services/T0/B0/XYZ', 'slack', notice)
  t.equal(slack.url, 'https://hooks.slack.com/services/T0/B0/XYZ')
  t.same(Object.keys(slack.body), ['text'], 'Slack takes {"text"}')
  t.match(slack.body.text, /^Agent build-1 wants to run Bash: git push origin main\nAllow: `curl -X POST https:\/\/agentlog\.example\.com\/agents\/build-1\/approvals\/req-1 .*"behavior":"allow"/)
  const ntfy = webhookRequest('https://ntfy.sh/agentlog-approvals', 'ntfy', notice)
  t.equal(ntfy.url, 'https://ntfy.sh/', 'ntfy takes JSON at the server root')
  t.match(ntfy.body, {
    topic: 'agentlog-approvals',
    title: 'build-1: approve Bash?',
    message: 'git push origin main',
    actions: [
      { action: 'http', label: 'Allow', url: notice.decide_url, method: 'POST', body: '{"behavior":"allow"}' },
      { action: 'http', label: 'Deny', url: notice.decide_url, method: 'POST', body: '{"behavior":"deny"}' }
    ]
  })
  t.equal(inputSummary('Write', { file_path: '/srv/app/.env', content: 'SECRET=1' }), '/srv/app/.env', 'the path, not the content')
  t.equal(inputSummary('Bash', { command: 'x'.repeat(500) }).length, 200, 'cut to 200 characters')
  t.equal(inputSummary('Grep', { pattern: 'TODO' }), '{"pattern":"TODO"}')
})
