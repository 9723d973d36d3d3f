// What the viewer's browser tests share: a real server on a free port, agent lines to write, which failed requests
// are expected.
import { build, listen, uuid, type TestContext } from '../helper.js'

/** Failed requests but the 401s of a page asking for its token. */
export function unexpected (failed: string[]): string[] {
  return failed.filter(f => f !== 'GET /auth/whoami 401')
}

export async function serve (t: TestContext, env: Record<string, string> = {}) {
  const app = await build(t, { env })
  const ws = await listen(app)
  return { app, ws, http: ws.replace(/^ws:/, 'http:') }
}

export function toolUse (id: string, name: string, input: unknown): Record<string, unknown> {
  return {
    type: 'assistant',
    message: { id: `msg_${id}`, type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'tool_use', id, name, input }] },
    parent_tool_use_id: null,
    session_id: 'sess-1',
    uuid: uuid()
  }
}

export function toolResult (id: string, content: string, isError = false): Record<string, unknown> {
  return {
    type: 'user',
    message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content, is_error: isError }] },
    parent_tool_use_id: null,
    session_id: 'sess-1',
    uuid: uuid()
  }
}

export function thinking (text: string): Record<string, unknown> {
  return {
    type: 'assistant',
    message: { id: `msg_${uuid()}`, type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'thinking', thinking: text, signature: 's' }] },
    parent_tool_use_id: null,
    session_id: 'sess-1',
    uuid: uuid()
  }
}
