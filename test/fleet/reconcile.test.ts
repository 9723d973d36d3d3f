// What a runner's hello means for the agents recorded on it (pure), and the protocol's parse functions.
import { test } from 'tap'
import { reconcile } from '../../src/fleet/reconcile.js'
import { agentStartedDraft, agentStoppedDraft } from '../../src/fleet/events.js'
import { parseFromRunner, parseToRunner } from '../../src/protocol/runner.js'
import type { AgentRun } from '../../src/fleet/repository.js'

function run (agentId: string): AgentRun {
  return { agentId, runner: 'r', state: 'running', cwd: '/w', worktree: null, model: null, permissionMode: null, startedAt: 'x', stoppedAt: null, stopReason: null }
}

test('given recorded runs, when a runner says hello, then what it runs is kept or adopted and the rest resumed', async (t) => {
  const steps = reconcile([{ agent_id: 'a', cwd: '/w/a', worktree: null, pid: 1 }, { agent_id: 'new', cwd: '/w/n', worktree: null, pid: 2 }], [run('a'), run('b')])
  t.same(steps.map(s => s.action === 'resume' ? `resume ${s.run.agentId}` : `${s.action} ${s.agentId}`), ['keep a', 'adopt new', 'resume b'])
  t.same(reconcile([], []), [])
})

test('the events of a start and a stop carry who, where and why', async (t) => {
  const facts = { by: null, runner: 'r', cwd: '/w', worktree: null, claudeSessionId: 's1', reason: 'resumed' }
  t.match(agentStartedDraft(facts), { event_type: 'agent_started', content: 'resumed (resumed) by runner r in /w', metadata: { runner: 'r', cwd: '/w', claude_session_id: 's1', reason: 'resumed', by: null } })
  t.match(agentStoppedDraft({ ...facts, reason: 'died', exitCode: 1, signal: null }), { event_type: 'agent_stopped', metadata: { reason: 'died', exit_code: 1 } })
})

test('the runner protocol takes its messages and nothing else', async (t) => {
  t.match(parseFromRunner(JSON.stringify({ type: 'hello', protocol: 1, host: 'h', roots: ['/w'], claude_version: null, agentlog_version: '0.1.0', agents: [] })), { type: 'hello' })
  t.equal(parseFromRunner(JSON.stringify({ type: 'hello', protocol: 2, host: 'h', roots: [], claude_version: null, agentlog_version: '0', agents: [] })), null, 'another protocol version')
  t.equal(parseFromRunner('not json'), null)
  t.equal(parseFromRunner(JSON.stringify({ type: 'failed', request_id: 'x', agent_id: 'a', code: 'made_up', message: 'm', stderr: [] })), null, 'an unknown failure code')
  t.match(parseToRunner(JSON.stringify({ type: 'stop', request_id: 'x', agent_id: 'a', remove_worktree: true, grace_ms: 10, worktree: null })), { type: 'stop' })
  t.equal(parseToRunner(JSON.stringify({ type: 'start' })), null)
})
