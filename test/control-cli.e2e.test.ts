// Operator control with the real Claude Code CLI (2.1.112), both ways of connecting it: through `agentlog connect`
// (stdio) and straight over --sdk-url. Offline against the mock model API, driven only through the REST API.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, listen, walk } from './helper.js'
import {
  offlineSetup, sendPrompt, startConnector, startSdkUrlClaude, turn, untilResultAfter, waitConnected, waitFor,
  type OfflineSetup
} from './support/claude-cli.js'

async function post (app: FastifyInstance, agentId: string, command: string, payload?: unknown) {
  return await app.inject({ method: 'POST', url: `/agents/${agentId}/${command}`, payload: payload as any })
}

type Tap = Parameters<Parameters<typeof test>[0]>[0]

async function exercise (t: Tap, app: FastifyInstance, setup: OfflineSetup, agentId: string): Promise<void> {
  await waitConnected(app, agentId)
  // a turn gives the agent its session; then one held mid-turn at the model
  await turn(app, agentId, 'Say hello')
  const held = await sendPrompt(app, agentId, 'HOLD_ANSWER until interrupted')
  await waitFor('the CLI to ask the model', () => setup.api.requests.some(r => r.prompt?.startsWith('HOLD_ANSWER') === true) ? true : undefined)
  const interrupt = await post(app, agentId, 'interrupt')
  t.equal(interrupt.statusCode, 200, interrupt.body)
  t.match(interrupt.json(), { command: 'interrupt', outcome: 'success', event: { event_type: 'operator_command', metadata: { outcome: 'success' } } })
  const events = await untilResultAfter(app, agentId, held.events[0].seq)
  const after = events.filter(e => e.seq > held.events[0].seq)
  const result = after.find(e => e.event_type === 'result')
  t.equal(result.metadata.subtype, 'error_during_execution', 'the interrupted turn ends as the CLI reports it')
  await waitFor('activity idle after the interrupted turn', async () => {
    const last = (await walk(app, agentId)).filter(e => e.event_type === 'activity_changed').at(-1)
    return last.seq > result.seq && last.metadata?.state === 'idle' ? true : undefined
  })
  setup.api.release()

  const plan = await post(app, agentId, 'permission-mode', { mode: 'plan' })
  t.equal(plan.statusCode, 200, plan.body)
  t.match(plan.json(), { command: 'set_permission_mode', params: { mode: 'plan' }, outcome: 'success', response: { mode: 'plan' } })
  const back = await post(app, agentId, 'permission-mode', { mode: 'default' })
  t.equal(back.statusCode, 200, back.body)

  const bypass = await post(app, agentId, 'permission-mode', { mode: 'bypassPermissions' })
  t.equal(bypass.statusCode, 422, 'the CLI refuses bypassPermissions unless started allowing it')
  t.match(bypass.json(), { code: 'agent_refused', message: /--dangerously-skip-permissions/ })

  const model = await post(app, agentId, 'model', { model: 'opus' })
  t.equal(model.statusCode, 200, model.body)
  t.match(model.json(), { command: 'set_model', params: { model: 'opus' }, outcome: 'success' })
  const next = await turn(app, agentId, 'Say hello with the new model')
  const request = setup.api.requests.filter(r => r.prompt === 'Say hello with the new model').at(-1)
  const before = setup.api.requests.find(r => r.prompt === 'Say hello')?.body.model
  t.match(before, /sonnet/, 'the default model first')
  t.match(request?.body.model, /opus/, 'the next turn asked the model that was set')
  t.match(next.find(e => e.event_type === 'output')?.metadata.model, /opus/)

  const commands = (await walk(app, agentId)).filter(e => e.event_type === 'operator_command')
  t.same(commands.map(e => [e.content, e.metadata.params, e.metadata.outcome]), [
    ['interrupt', {}, 'success'],
    ['set_permission_mode', { mode: 'plan' }, 'success'],
    ['set_permission_mode', { mode: 'default' }, 'success'],
    ['set_permission_mode', { mode: 'bypassPermissions' }, 'error'],
    ['set_model', { model: 'opus' }, 'success']
  ], 'the history shows who changed what')
}

test('operator control through agentlog connect (stdio)', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t)
  const base = await listen(app)
  startConnector(t, setup, { server: base, agentId: 'ctl-connect' })
  await exercise(t, app, setup, 'ctl-connect')
})

test('operator control over --sdk-url', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t)
  const base = await listen(app)
  startSdkUrlClaude(t, setup, `${base}/ws/ctl-sdk-url`)
  await exercise(t, app, setup, 'ctl-sdk-url')
})
