// Runners with several instances on one PostgreSQL: a start, a prompt and a stop sent to an instance the runner is
// not connected to are carried to the one that is; the agent's socket may be on a third place (here: the other one).
import tap, { test } from 'tap'
import { WebSocket } from 'ws'
import { postgresUrl } from './helper.js'
import { received, startInstances, within } from './support/instances.js'
import { getJson, waitFor } from './support/server-process.js'

const skip = postgresUrl === '' ? 'DATABASE_URL is not set' : false
tap.setTimeout(8 * 60 * 1000)

async function open (url: string): Promise<WebSocket> {
  const ws = new WebSocket(url)
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  return ws
}

async function post (url: string, payload: unknown): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) })
  return { status: res.status, body: await res.json() }
}

test('a start, its first prompt and a stop reach the runner through the instance that holds its socket', { skip }, async (t) => {
  const { servers } = await startInstances(t, 2)
  const [a, b] = servers
  // the runner is connected to a; its agents' sockets go to b
  const runner = await open(`${a.wsUrl}/runners/ws/box-x`)
  t.teardown(() => runner.terminate())
  const agentSockets: WebSocket[] = []
  t.teardown(() => { for (const s of agentSockets) s.terminate() })
  let agentInbox: any[] = []
  runner.on('message', (data) => {
    const m = JSON.parse(data.toString())
    if (m.type === 'start') {
      open(`${b.wsUrl}/ws/${m.agent_id}`).then((ws) => {
        agentSockets.push(ws)
        agentInbox = received(ws)
        runner.send(JSON.stringify({ type: 'started', request_id: m.request_id, agent_id: m.agent_id, cwd: m.cwd, worktree: null, pid: 1 }))
      }, (err: Error) => t.fail(err.message))
    } else if (m.type === 'stop') {
      for (const s of agentSockets) s.close(1000)
      runner.send(JSON.stringify({ type: 'stopped', request_id: m.request_id, agent_id: m.agent_id, exit_code: 0, signal: null, worktree_removed: false }))
    }
  })
  runner.send(JSON.stringify({ type: 'hello', protocol: 1, host: 'h', roots: ['/w'], claude_version: null, agentlog_version: '0.1.0', agents: [] }))
  await waitFor('b to see the runner connected', async () => {
    const { body } = await getJson(`${b.url}/runners`)
    return body.runners[0]?.connected === true ? true : undefined
  })

  const started = await within('the start through b', post(`${b.url}/runners/box-x/agents`, { agent_id: 'x1', cwd: '/w/p', prompt: 'hello from b' }))
  t.equal(started.status, 201, JSON.stringify(started.body))
  t.match(started.body, { agent_id: 'x1', runner: 'box-x', state: 'running' })
  await waitFor('the prompt on the agent socket', () => agentInbox.some(m => m.type === 'user' && m.message.content === 'hello from b') ? true : undefined)
  const { body: log } = await getJson(`${a.url}/agents/x1/events`)
  t.same(log.events.map((e: any) => e.event_type).slice(0, 2), ['agent_started', 'prompt_sent'])

  const stopped = await within('the stop through b', post(`${b.url}/agents/x1/stop`, {}))
  t.equal(stopped.status, 200, JSON.stringify(stopped.body))
  t.equal(stopped.body.state, 'stopped')
  await waitFor('agent_stopped in the log', async () => {
    const { body } = await getJson(`${b.url}/agents/x1/events?type=agent_stopped`)
    return body.events.length === 1 ? true : undefined
  })
})
