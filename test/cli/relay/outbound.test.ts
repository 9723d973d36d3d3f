// The relay's outbound buffer, given / when / then: lines routed in, what is sent, held, re-sent and dropped out.
import { test } from 'tap'
import { OutboundBuffer, replayLines, uuidOf } from '../../../src/cli/relay/outbound.js'

const T0 = 1000
const withUuid = (uuid: string, text = 'hi') => JSON.stringify({ type: 'assistant', uuid, text })
const permission = (id: string, padding = '') => JSON.stringify({ type: 'control_request', request_id: id, request: { subtype: 'can_use_tool', padding } })

/** A buffer after these lines went out on an open socket (each sent, as the relay does). */
function afterSending (lines: string[], limits = { bufferLines: 3, replayLines: 2 }): OutboundBuffer {
  const buffer = new OutboundBuffer(limits)
  for (const line of lines) {
    buffer.route(line, uuidOf(JSON.parse(line)), true)
    buffer.sent(line, T0)
  }
  return buffer
}

test('given an open socket, when lines go out, then the last ones with a uuid are kept for replay', async (t) => {
  const given = afterSending([withUuid('u1'), withUuid('u2'), JSON.stringify({ type: 'keep_alive' }), withUuid('u3')])
  t.same(given.replay(), { recent: [withUuid('u2'), withUuid('u3')], permissions: [] }, 'at most --replay-lines, oldest dropped; no uuid, no replay')
  t.equal(uuidOf({ uuid: '' }), null)
  t.equal(uuidOf(null), null)
})

test('given no socket, when more lines come than the buffer holds, then the oldest are dropped, said once, and counted', async (t) => {
  const buffer = new OutboundBuffer({ bufferLines: 2, replayLines: 2 })
  const routes = ['a', 'b', 'c', 'd'].map(l => buffer.route(l, null, false))
  t.same(routes, [
    { to: 'held', count: 1, firstDrop: false },
    { to: 'held', count: 2, firstDrop: false },
    { to: 'held', count: 3, firstDrop: true },
    { to: 'held', count: 3, firstDrop: false }
  ])
  t.equal(buffer.heldCount, 2)
  t.same(buffer.release(), { held: ['c', 'd'], dropped: 2 })
  t.same(buffer.release(), { held: [], dropped: 0 }, 'released once')
})

test('given an open permission request, when the socket comes back, then it is re-sent after the recent lines unless held', async (t) => {
  const given = afterSending([withUuid('u1'), permission('p1')])
  given.permissionAsked('p1', permission('p1'))
  given.permissionAsked('p2', permission('p2'))
  given.route(permission('p2'), null, false)
  t.same(given.replay(), { recent: [withUuid('u1')], permissions: [permission('p1')] }, 'p2 goes out with the held lines, once')
  t.equal(given.openPermissions, 2)
  t.equal(given.permissionClosed('p1'), true)
  t.equal(given.permissionClosed('p1'), false)
  t.same(given.replay().permissions, [], 'an answered request is not re-sent')
  given.forgetPermissions()
  t.equal(given.openPermissions, 0)
})

test('replay order: the recent lines, then the permission requests that are not held', async (t) => {
  t.same(replayLines(['r1', 'r2'], ['p1', 'p2'], ['p2', 'h1']), { recent: ['r1', 'r2'], permissions: ['p1'] })
})

test('given a long line sent, when the server closes with 1009, then it is dropped for good, and a request as long refused', async (t) => {
  const big = withUuid('u2', 'x'.repeat(1000))
  const bigger = withUuid('u3', 'x'.repeat(2000))
  const given = afterSending([withUuid('u1'), big, bigger], { bufferLines: 10, replayLines: 5 })
  // asked on an earlier connection: not among the lines this close can blame, but as long
  given.permissionAsked('p1', permission('p1', 'x'.repeat(3000)))
  given.permissionAsked('p2', permission('p2'))
  t.same(given.closed(1009, T0 + 1), { code: 1009, culprit: bigger, alsoDropped: [], refused: ['p1'] }, 'the longest sent is blamed')
  t.same(given.replay(), { recent: [withUuid('u1'), big], permissions: [permission('p2')] })
  t.same(given.route(bigger, 'u3', true), { to: 'too_big' }, 'never sent again')
  t.same(given.route(JSON.stringify({ type: 'x', pad: 'y'.repeat(2500) }), null, false), { to: 'too_big' }, 'nor held: nothing as long')
  t.same(given.route(big, 'u2', false), { to: 'held', count: 1, firstDrop: false }, 'shorter lines still go')
})

test('given a limit learned, when a shorter line is blamed later, then recent lines and requests as long are dropped with it', async (t) => {
  const mid = withUuid('u2', 'x'.repeat(300))
  const culprit = withUuid('u3', 'x'.repeat(250))
  const given = afterSending([withUuid('u1'), mid], { bufferLines: 10, replayLines: 5 })
  given.permissionAsked('p1', permission('p1', 'x'.repeat(400)))
  given.closed(1000, T0)
  given.route(culprit, 'u3', true)
  given.sent(culprit, T0)
  const then = given.closed(1009, T0)
  t.same(then, { code: 1009, culprit, alsoDropped: [mid], refused: ['p1'] })
  t.same(given.replay(), { recent: [withUuid('u1')], permissions: [] })
})

test('given lines sent, when the connection breaks twice right after the same long line (1006), then it is blamed the second time', async (t) => {
  const long = withUuid('u2', 'x'.repeat(500))
  const given = afterSending([withUuid('u1'), long], { bufferLines: 10, replayLines: 5 })
  t.equal(given.closed(1006, T0 + 10), null, 'the first break only makes it a suspect')
  given.sent(withUuid('u1'), T0 + 20)
  given.sent(long, T0 + 20)
  t.match(given.closed(1006, T0 + 30), { code: 1006, culprit: long })
})
