// When the relay reconnects and how, given / when / then: a close or an attempt in, a verdict, a delay or headers out.
import { test } from 'tap'
import { backoffDelay, connectHeaders, finalClose, outageWarning, refusesToken } from '../../../src/cli/relay/reconnect.js'

const close = (code: number, reason = '') => ({ code, reason, refusedStatus: null, tokenGiven: true })

test('given a close the CLI itself would come back from, when it comes, then the relay reconnects', async (t) => {
  for (const code of [1000, 1001, 1006, 1007, 1009, 1011, 4000]) t.equal(finalClose(close(code)), null, `${code}`)
})

test('given a close the CLI would stop on (1002, 4001, 4003), when it comes, then the relay stops and says why', async (t) => {
  t.equal(finalClose(close(1002, 'protocol error')), 'the server closed the agent socket with 1002 (protocol error: protocol error); not reconnecting, stopping the CLI')
  t.match(finalClose(close(4001)), /with 4001 \(replaced by a newer connection for the same agent\); not reconnecting/)
  t.match(finalClose(close(4003, 'unknown token')), /with 4003 \(refused by the server: check the agent id and the token .*: unknown token\)/)
})

test('given an upgrade refused with 401 or 403, when the socket closes, then the relay stops, and says when no token was given', async (t) => {
  t.same([401, 403, 502, 503].map(refusesToken), [true, true, false, false], 'a proxy\'s 502 or 503 is retried')
  t.equal(finalClose({ code: 1006, reason: '', refusedStatus: 403, tokenGiven: true }),
    'the server refused the agent\'s token (HTTP 403); not reconnecting, stopping the CLI')
  t.match(finalClose({ code: 1006, reason: '', refusedStatus: 401, tokenGiven: false }), /\(HTTP 401: no token was given; use --token/)
})

test('given attempts in a row, when waiting before the next, then the wait doubles up to the most, jittered over its upper half', async (t) => {
  t.same([0, 1, 2, 3].map(n => backoffDelay(n, 100, 5000, 0)), [50, 100, 200, 400], 'the least: half')
  t.same([0, 1, 2, 3].map(n => backoffDelay(n, 100, 5000, 0.999999)), [100, 200, 400, 800], 'the most: all of it')
  t.equal(backoffDelay(20, 100, 5000, 0.5), 3750, 'capped at 5 s')
})

test('given a first connection or a reconnect, when connecting, then only a reconnect names the last line sent', async (t) => {
  t.same(connectHeaders({ reconnect: false, lastUuid: null, runId: 'run-1', token: null }), {})
  t.same(connectHeaders({ reconnect: true, lastUuid: 'u9', runId: 'run-1', token: 'tok' }), { 'x-last-request-id': 'u9', authorization: 'Bearer tok' })
  t.same(connectHeaders({ reconnect: true, lastUuid: null, runId: 'run-1', token: null }), { 'x-last-request-id': 'run-1' }, 'nothing sent yet: this run')
})

test('given an outage, when sockets close, then it is said once: lost at once, unreachable after three attempts', async (t) => {
  t.equal(outageWarning({ wasOpen: true, warned: false, attempt: 0 }), 'lost')
  t.equal(outageWarning({ wasOpen: false, warned: false, attempt: 2 }), null, 'a failed attempt or two is not worth a warning')
  t.equal(outageWarning({ wasOpen: false, warned: false, attempt: 3 }), 'unreachable')
  t.equal(outageWarning({ wasOpen: true, warned: true, attempt: 0 }), null, 'said already')
})
