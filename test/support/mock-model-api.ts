// A scripted stand-in for the Anthropic Messages API, so the real Claude Code CLI runs in tests with no network.
//
// The answer is chosen by the last user text of the request (see `script` below). It also acts as the CLI's
// HTTP(S) proxy: every attempt to reach another host is recorded in `outbound` and refused, so a test can
// prove the CLI stayed offline and say what it tried to reach.
import http from 'node:http'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'

/** One content block of a scripted answer, streamed the way the real API streams it. */
export type MockBlock =
  | { type: 'text', text: string }
  | { type: 'thinking', thinking: string }
  | { type: 'tool_use', name: string, input: Record<string, unknown> }

export interface MockAnswer {
  blocks: MockBlock[]
  /** Answer with this HTTP error instead (status, message). */
  error?: { status: number, type: string, message: string }
  /** Hold the answer back until release() (to catch the CLI mid-turn). */
  hold?: boolean
}

export interface MockRequest {
  path: string
  /** The request's last user text (not tool results, not the CLI's system reminders). */
  prompt: string | null
  /** The last user message holds tool_result blocks: the CLI reports what a tool did. */
  toolResults: Array<{ tool_use_id: string, is_error: boolean, content: unknown }>
  /** How many user messages the conversation holds (a fresh conversation has one). */
  userTurns: number
  /** Every user text of the conversation, oldest first. */
  userTexts: string[]
  stream: boolean
  body: any
}

export interface MockModelApi {
  /** http://127.0.0.1:PORT, for ANTHROPIC_BASE_URL (and HTTP(S)_PROXY, see above). */
  url: string
  /** Every POST /v1/messages, in arrival order. */
  requests: MockRequest[]
  /** Everything else the CLI asked for: "METHOD path" for this server, "CONNECT host:port" / URLs through the proxy. */
  other: string[]
  /** Hosts the CLI tried to reach through the proxy (all refused). */
  outbound: string[]
  /** Sends the answers held back (HOLD_ANSWER); returns how many. */
  release: () => number
  close: () => Promise<void>
}

type Obj = Record<string, any>

function userText (content: unknown): string[] {
  if (typeof content === 'string') return [content]
  if (!Array.isArray(content)) return []
  return content
    .filter((b: Obj) => b?.type === 'text' && typeof b.text === 'string')
    .map((b: Obj) => b.text as string)
    // the CLI adds its own reminders and context to the user turn; the operator's prompt is the rest
    .filter(text => !text.trimStart().startsWith('<system-reminder>') && !text.trimStart().startsWith('<command-'))
}

function describe (body: Obj, path: string): MockRequest {
  const messages: Obj[] = Array.isArray(body.messages) ? body.messages : []
  const users = messages.filter(m => m.role === 'user')
  const userTexts = users.flatMap(m => userText(m.content))
  const last = users[users.length - 1]
  const toolResults = Array.isArray(last?.content)
    ? last.content.filter((b: Obj) => b?.type === 'tool_result').map((b: Obj) => ({ tool_use_id: b.tool_use_id, is_error: b.is_error === true, content: b.content }))
    : []
  const texts = last === undefined ? [] : userText(last.content)
  return {
    path,
    prompt: texts.length > 0 ? texts[texts.length - 1] : null,
    toolResults,
    userTurns: users.filter(m => userText(m.content).length > 0).length,
    userTexts,
    stream: body.stream === true,
    body
  }
}

/** The working directory the CLI states in its system prompt, for tools that need an absolute path. */
function workingDirectory (body: Obj): string {
  const system = typeof body.system === 'string'
    ? body.system
    : Array.isArray(body.system) ? body.system.map((b: Obj) => b?.text ?? '').join('\n') : ''
  const match = /(?:Primary working directory|Working directory):\s*(\S+)/.exec(system)
  return match?.[1] ?? '/tmp'
}

/** What the scripted model says, by keyword in the operator's prompt (upper-case words, as in the recordings). */
function script (req: MockRequest): MockAnswer {
  if (req.toolResults.length > 0) return { blocks: [{ type: 'text', text: 'The tool finished. All done.' }] }
  const prompt = req.prompt ?? ''
  const cwd = workingDirectory(req.body)
  if (prompt.includes('THINK')) {
    return { blocks: [{ type: 'thinking', thinking: 'Let me think about this step by step.' }, { type: 'text', text: 'After thinking: 42.' }] }
  }
  if (prompt.includes('RUN_BASH')) {
    return {
      blocks: [
        { type: 'text', text: 'I will run a command.' },
        { type: 'tool_use', name: 'Bash', input: { command: 'echo hello-from-bash', description: 'Print a greeting' } }
      ]
    }
  }
  if (prompt.includes('SLOW_BASH')) {
    // `sleep` is not on the read-only list, so the CLI asks for permission first
    return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: 'sleep 1 && echo slow-done', description: 'Wait, then print' } }] }
  }
  if (prompt.includes('RISKY_BASH')) {
    // writes in the working directory: the CLI asks for permission; each run adds one line to runs.log
    return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: 'echo ran >> runs.log && echo ran-after-approval', description: 'Record a run' } }] }
  }
  if (prompt.includes('WRITE_FILE')) {
    return { blocks: [{ type: 'tool_use', name: 'Write', input: { file_path: `${cwd}/note.txt`, content: 'written by the agent\n' } }] }
  }
  const mcpSearch = /MCP_SEARCH "([^"]+)"/.exec(prompt)
  if (mcpSearch !== null) {
    // agentlog's MCP tool (as `agentlog connect` hands it to the CLI): a phrase another agent wrote
    return { blocks: [{ type: 'tool_use', name: 'mcp__agentlog__search', input: { query: `"${mcpSearch[1]}"` } }] }
  }
  if (prompt.includes('ERROR_PLEASE')) {
    return { blocks: [], error: { status: 400, type: 'invalid_request_error', message: 'prompt is too long: 300000 tokens > 200000 maximum' } }
  }
  if (prompt.includes('BIG_OUTPUT')) {
    return { blocks: [{ type: 'text', text: 'big:' + 'abcdefghij'.repeat(30000) }] }
  }
  if (prompt.includes('HOLD_ANSWER')) {
    return { blocks: [{ type: 'text', text: `Held answer: ${prompt}` }], hold: true }
  }
  return { blocks: [{ type: 'text', text: `Hello! This is the mock model answering: ${prompt}` }] }
}

let counter = 0

function sse (res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
}

function answerJson (answer: MockAnswer, model: string, id: string, inputTokens: number, outputTokens: number): Obj {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: answer.blocks.map(blockJson),
    stop_reason: answer.blocks.some(b => b.type === 'tool_use') ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: inputTokens, output_tokens: outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
  }
}

function blockJson (block: MockBlock): Obj {
  if (block.type === 'text') return { type: 'text', text: block.text }
  if (block.type === 'thinking') return { type: 'thinking', thinking: block.thinking, signature: 'sig' }
  return { type: 'tool_use', id: `toolu_mock_${++counter}`, name: block.name, input: block.input }
}

function stream (res: http.ServerResponse, answer: MockAnswer, model: string, id: string, inputTokens: number, outputTokens: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${id}` })
  sse(res, 'message_start', {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
    }
  })
  answer.blocks.forEach((block, index) => {
    const json = blockJson(block)
    if (block.type === 'text') {
      sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } })
      // two deltas, as a real stream splits text
      const cut = Math.ceil(block.text.length / 2)
      for (const part of [block.text.slice(0, cut), block.text.slice(cut)]) {
        if (part !== '') sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: part } })
      }
    } else if (block.type === 'thinking') {
      sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } })
      sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: block.thinking } })
      sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: 'sig' } })
    } else {
      sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: json.id, name: json.name, input: {} } })
      sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(json.input) } })
    }
    sse(res, 'content_block_stop', { type: 'content_block_stop', index })
  })
  sse(res, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: answer.blocks.some(b => b.type === 'tool_use') ? 'tool_use' : 'end_turn', stop_sequence: null },
    usage: { output_tokens: outputTokens }
  })
  sse(res, 'message_stop', { type: 'message_stop' })
  res.end()
}

function readBody (req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.once('error', reject)
  })
}

export async function startMockModelApi (): Promise<MockModelApi> {
  const requests: MockRequest[] = []
  const other: string[] = []
  const outbound: string[] = []
  let held: Array<() => void> = []

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/'
    if (/^https?:\/\//.test(url)) {
      // a plain-HTTP request through the proxy, meant for another host
      outbound.push(url)
      other.push(`${req.method ?? 'GET'} ${url}`)
      req.resume()
      res.writeHead(403).end()
      return
    }
    const path = url.split('?')[0]
    readBody(req).then((text) => {
      let body: Obj = {}
      try { body = text === '' ? {} : JSON.parse(text) } catch { body = {} }
      if (req.method === 'POST' && path === '/v1/messages') {
        const described = describe(body, url)
        requests.push(described)
        const answer = script(described)
        const send = (): void => {
          if (answer.error !== undefined) {
            res.writeHead(answer.error.status, { 'content-type': 'application/json' })
            res.end(JSON.stringify({ type: 'error', error: { type: answer.error.type, message: answer.error.message } }))
            return
          }
          const id = `msg_mock_${++counter}`
          const model = typeof body.model === 'string' ? body.model : 'claude-sonnet-4-6'
          const inputTokens = 100 + requests.length
          const outputTokens = 20 + answer.blocks.length
          if (described.stream) stream(res, answer, model, id, inputTokens, outputTokens)
          else {
            res.writeHead(200, { 'content-type': 'application/json' })
            res.end(JSON.stringify(answerJson(answer, model, id, inputTokens, outputTokens)))
          }
        }
        if (answer.hold === true) held.push(send)
        else send()
        return
      }
      other.push(`${req.method ?? 'GET'} ${path}`)
      if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ input_tokens: Math.ceil(text.length / 4) }))
        return
      }
      // telemetry, feature flags and anything else: an empty, harmless answer
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    }).catch(() => { res.destroy() })
  })

  // HTTPS through the proxy: note where it wanted to go, then refuse the tunnel
  server.on('connect', (req: http.IncomingMessage, socket: import('node:net').Socket) => {
    outbound.push(req.url ?? '')
    other.push(`CONNECT ${req.url ?? ''}`)
    socket.on('error', () => {})
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n')
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    other,
    outbound,
    release () {
      const sends = held
      held = []
      for (const send of sends) send()
      return sends.length
    },
    close: async () => {
      held = []
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

export interface OfflineClaude {
  /** The CLI's environment: nothing from the test run's own. */
  env: Record<string, string>
  /** Its HOME (settings, session files). */
  home: string
  /** Its working directory. */
  cwd: string
}

/**
 * A HOME, a working directory and the environment that keep the CLI offline and self-contained under `dir`:
 * the mock as the API and as the proxy for everything else, a test key, no telemetry or updates.
 */
export function prepareOfflineClaude (api: MockModelApi, dir: string): OfflineClaude {
  const home = join(dir, 'home')
  const cwd = join(dir, 'work')
  mkdirSync(join(home, '.claude'), { recursive: true })
  mkdirSync(cwd, { recursive: true })
  // With an API key, 2.1.112 asks https://api.anthropic.com/api/claude_code/organizations/metrics_enabled on
  // exit (not through ANTHROPIC_BASE_URL, whatever DISABLE_TELEMETRY says) unless its config holds a fresh answer.
  writeFileSync(join(home, '.claude', '.claude.json'), JSON.stringify({ metricsStatusCache: { enabled: false, timestamp: Date.now() } }))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    USER: 'agentlog-test',
    SHELL: '/bin/sh',
    TERM: 'dumb',
    ANTHROPIC_BASE_URL: api.url,
    ANTHROPIC_API_KEY: 'test-key',
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_BUG_COMMAND: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    HTTP_PROXY: api.url,
    HTTPS_PROXY: api.url,
    http_proxy: api.url,
    https_proxy: api.url,
    // the API and agentlog are on loopback: straight there, never through the proxy
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost'
  }
  return { env, home, cwd }
}
