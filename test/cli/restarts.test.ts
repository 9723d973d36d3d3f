// When `agentlog connect` restarts a CLI that died: given its exit and the restarts so far, then the decision.
import { test } from 'tap'
import { decideOnExit, describeExit, exitStatus, resumeArgs, type CliExit } from '../../src/cli/relay/restarts.js'

const policy = { maxRestarts: 3, windowMs: 600000, delayMs: 1000, maxDelayMs: 5000 }
const killed: CliExit = { asked: false, code: null, signal: 'SIGKILL', ranOnce: true }

test('a CLI that dies is restarted, each time later, until the budget of the window is spent', async (t) => {
  let restarts: number[] = []
  const delays: number[] = []
  for (let i = 0; i < 3; i++) {
    const then = decideOnExit(killed, restarts, 1000 + i, policy)
    t.equal(then.decision.restart, true)
    if (then.decision.restart) delays.push(then.decision.delayMs)
    restarts = then.restarts
  }
  t.same(delays, [1000, 2000, 4000])
  t.same(decideOnExit(killed, restarts, 2000, policy).decision, { restart: false, why: 'too_many_restarts' })
  const later = decideOnExit({ ...killed, signal: null, code: 137 }, restarts, 1000 + 600000 + 5, policy)
  t.same(later.decision, { restart: true, delayMs: 1000, attempt: 1 }, 'restarts older than the window no longer count')
  t.same(later.restarts, [600000 + 1005])
})

test('exits that are not deaths are not restarted', async (t) => {
  t.same(decideOnExit({ ...killed, asked: true }, [], 0, policy).decision, { restart: false, why: 'asked' })
  t.same(decideOnExit({ ...killed, signal: null, code: 0 }, [], 0, policy).decision, { restart: false, why: 'finished' })
  t.same(decideOnExit({ ...killed, signal: null, code: 1, ranOnce: false }, [], 0, policy).decision, { restart: false, why: 'failed_to_start' })
  t.same(decideOnExit(killed, [], 0, { ...policy, maxRestarts: 0 }).decision, { restart: false, why: 'too_many_restarts' }, '--max-restarts 0: never')
  t.same(decideOnExit(killed, [], 0, { ...policy, delayMs: 4000, maxDelayMs: 5000 }).decision, { restart: true, delayMs: 4000, attempt: 1 })
})

test('the restarted CLI resumes the last session, whatever the user asked for at first', async (t) => {
  t.same(resumeArgs(['--model', 'opus', '--resume', 'old'], 'sess-2'), ['--model', 'opus', '--resume', 'sess-2'])
  t.same(resumeArgs(['--continue'], null), [], 'no session yet: a fresh one')
})

test('given how the CLI exited, then the relay exits with the status a shell would report', async (t) => {
  t.equal(exitStatus(3, null), 3)
  t.equal(exitStatus(null, 'SIGKILL'), 137)
  t.equal(exitStatus(null, 'SIGTERM'), 143)
  t.same([describeExit(1, null), describeExit(null, 'SIGKILL')], ['code 1', 'signal SIGKILL'])
})
