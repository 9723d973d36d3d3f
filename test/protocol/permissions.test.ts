// Claude Code's permission protocol as the relay reads and writes it: given a line, then the request it answers.
import { test } from 'tap'
import { answeredRequestId, permissionRequest, permissionResponse } from '../../src/protocol/permissions.js'

test('given the answer to a permission request, then it names the request it answers, as the key the request is kept under', async (t) => {
  const request = permissionRequest({ type: 'control_request', request_id: 'r-1', request: { subtype: 'can_use_tool', tool_name: 'Write', input: {} } })
  const answer = permissionResponse('r-1', { behavior: 'deny', message: 'no' })
  t.same(answer, { type: 'control_response', response: { subtype: 'success', request_id: 'r-1', response: { behavior: 'deny', message: 'no' } } })
  t.equal(answeredRequestId(answer as any), request?.requestId)
  t.equal(answeredRequestId({ type: 'control_response', response: { subtype: 'error', request_id: 7, error: 'x' } }), '7', 'an error answers it too')
})

test('given any other line, then it answers no request', async (t) => {
  t.equal(answeredRequestId({ type: 'control_request', request_id: 'r-1' }), null)
  t.equal(answeredRequestId({ type: 'control_response', response: 'r-1' }), null)
  t.equal(answeredRequestId({ type: 'control_response', response: { request_id: null } }), null)
})
