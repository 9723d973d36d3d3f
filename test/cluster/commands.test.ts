// What a forwarded command that failed answers, given / when / then. No app, no database.
import { test } from 'tap'
import { failedCommand } from '../../src/cluster/commands.js'
import { httpError } from '../../src/errors.js'

test('given a command that refused with an error of ours, when it is answered, then its status, message and code go back', async (t) => {
  const then = failedCommand(httpError(409, 'the agent is not connected', 'agent_not_connected'))
  t.same(then, { status: 409, body: { error: 'Conflict', message: 'the agent is not connected', code: 'agent_not_connected' } })
})

test('given a command that failed unexpectedly, when it is answered, then it is a 500 whose message stays here', async (t) => {
  const then = failedCommand(new Error('connection terminated: secret detail'))
  t.same(then, { status: 500, body: { error: 'Internal Server Error', message: 'internal error; see the server log', code: 'internal' } })
})

test('given an error of ours with a 5xx status and its code, when it is answered, then status, message and code go back', async (t) => {
  const then = failedCommand(httpError(503, 'the server is shutting down', 'shutting_down'))
  t.same(then, { status: 503, body: { error: 'Service Unavailable', message: 'the server is shutting down', code: 'shutting_down' } })
})

test('given a 5xx whose code is not one of ours, when it is answered, then the status and code go back but not the message', async (t) => {
  const then = failedCommand(Object.assign(new Error('pool exhausted: host db-7'), { statusCode: 503, code: 'pool_gone' }))
  t.same(then, { status: 503, body: { error: 'Service Unavailable', message: 'internal error; see the server log', code: 'pool_gone' } })
})

test('given an error with a status outside 4xx and 5xx or a code not in snake_case, when it is answered, then they are not taken', async (t) => {
  const then = failedCommand(Object.assign(new Error('odd'), { statusCode: 302, code: 'ECONNRESET' }))
  t.same(then, { status: 500, body: { error: 'Internal Server Error', message: 'internal error; see the server log', code: 'internal' } })
})

test('given something thrown that is not an error, when it is answered, then it is a 500', async (t) => {
  t.equal(failedCommand('boom').status, 500)
})
