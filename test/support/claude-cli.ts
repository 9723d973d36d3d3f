// Runs the real Claude Code CLI (the pinned devDependency) and `agentlog connect` as child processes for
// end-to-end tests, offline against the mock model API, and drives agentlog through its REST API.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import type { TestContext } from '../helper.js'
import { walk } from '../helper.js'
import { prepareOfflineClaude, startMockModelApi, type MockModelApi, type OfflineClaude } from './mock-model-api.js'
import { waitFor } from './server-process.js'
import { packedBinary } from './npm-binary.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * How long the real CLI (or `agentlog connect` through the TypeScript loader) may take to connect, finish a turn,
 * print or exit before a test gives up: a few seconds usually, over 20 s when a loaded 2-core machine starts
 * several CLIs and servers at once.
 */
const CLI_WAIT_MS = 60000

/** Claude Code 2.1.112 (npm, plain JavaScript): accepts a loopback --sdk-url and speaks stdio stream-json. */
export const CLAUDE_CLI = join(ROOT, 'node_modules', '@anthropic-ai', 'claude-code', 'cli.js')

/** Claude Code 2.1.120: the last version that takes a loopback --sdk-url; it re-sends its recent lines on reconnect. */
export const CLAUDE_2_1_120 = '2.1.120'
/** The newest Claude Code the tests run (stdio only: --sdk-url is refused for any host but Anthropic's since 2.1.121). */
export const CLAUDE_NEWEST = '2.1.332'

/**
 * The native Claude Code binary of a version, for this platform: its npm package (`@anthropic-ai/claude-code-<platform>`),
 * fetched the first time (test/support/npm-binary.ts).
 */
export async function nativeClaude (version: string): Promise<string> {
  const platform = `${process.platform}-${process.arch}`
  return await packedBinary('agentlog-claude', `@anthropic-ai/claude-code-${platform}`, version, process.platform === 'win32' ? 'claude.exe' : 'claude')
}

/** The `agentlog` command as installed (it runs the bundle npm run build makes). */
export const CONNECT_MAIN = join(ROOT, 'bin', 'agentlog.js')

export { waitFor }

export interface Child {
  child: ChildProcess
  /** Everything written to stdout / stderr so far. */
  stdout: () => string
  stderr: () => string
  /** null while it runs. */
  exit: () => { code: number | null, signal: NodeJS.Signals | null } | null
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Waits (bounded) for the process to end; fails the wait with its stderr if it does not. */
  waitExit: (timeoutMs?: number) => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Resolves when stderr matches, or fails after the deadline (or when the process exits first). */
  waitStderr: (pattern: RegExp, timeoutMs?: number) => Promise<void>
}

/** Spawns a process that is SIGKILLed on teardown if it still runs. */
export function spawnChild (t: TestContext, name: string, command: string, args: string[], opts: { cwd: string, env: Record<string, string> }): Child {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let status: { code: number | null, signal: NodeJS.Signals | null } | null = null
  child.stdout?.setEncoding('utf8')
  child.stderr?.setEncoding('utf8')
  child.stdout?.on('data', (c: string) => { out += c })
  child.stderr?.on('data', (c: string) => { err += c })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => { status = { code, signal }; resolve(status) })
  })
  t.teardown(async () => {
    if (status === null) child.kill('SIGKILL')
    await exited
  })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit: () => status,
    exited,
    async waitExit (timeoutMs = CLI_WAIT_MS) {
      let timer: NodeJS.Timeout | undefined
      try {
        return await Promise.race([
          exited,
          new Promise<never>((resolve, reject) => {
            timer = setTimeout(() => reject(new Error(`${name} did not exit within ${timeoutMs} ms; stderr:\n${err.slice(-3000)}`)), timeoutMs)
          })
        ])
      } finally {
        clearTimeout(timer)
      }
    },
    async waitStderr (pattern, timeoutMs = CLI_WAIT_MS) {
      await waitFor(`${name} to log ${String(pattern)}`, () => {
        if (pattern.test(err)) return true
        if (status !== null) throw new Error(`${name} exited (${JSON.stringify(status)}) without logging it; stderr:\n${err.slice(-3000)}`)
        return undefined
      }, timeoutMs)
    }
  }
}

export interface OfflineSetup {
  api: MockModelApi
  claude: OfflineClaude
}

/** The mock model API and a temporary HOME and working directory for the CLI; all removed on teardown. */
export async function offlineSetup (t: TestContext): Promise<OfflineSetup> {
  const api = await startMockModelApi()
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-claude-'))
  t.teardown(async () => {
    await api.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { api, claude: prepareOfflineClaude(api, dir) }
}

/** The real CLI connected straight to agentlog with --sdk-url (the flags the recordings used). */
export function startSdkUrlClaude (t: TestContext, setup: OfflineSetup, agentUrl: string, bin = CLAUDE_CLI): Child {
  const args = ['--sdk-url', agentUrl, '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose']
  const [command, argv] = bin.endsWith('.js') ? [process.execPath, [bin, ...args]] : [bin, args]
  return spawnChild(t, `claude --sdk-url (${bin.endsWith('.js') ? '2.1.112' : bin.split('/node_modules/')[1] ?? bin})`, command, argv, { cwd: setup.claude.cwd, env: setup.claude.env })
}

/** `agentlog connect` from source (through tap's TypeScript loader), running the real CLI in stdio mode. */
export function startConnector (t: TestContext, setup: OfflineSetup, opts: { server: string, agentId: string, args?: string[], env?: Record<string, string> }): Child {
  return spawnChild(t, 'agentlog connect', process.execPath, [
    CONNECT_MAIN, 'connect', '--agent', opts.agentId, '--server', opts.server, ...(opts.args ?? [])
  ], {
    cwd: setup.claude.cwd,
    env: {
      ...setup.claude.env,
      CLAUDE_BIN: CLAUDE_CLI,
      ...opts.env
    }
  })
}

// ---- agentlog's REST API ----

export async function agentSummary (app: FastifyInstance, agentId: string): Promise<any | undefined> {
  const res = await app.inject({ method: 'GET', url: '/agents' })
  if (res.statusCode !== 200) throw new Error(`GET /agents ${res.statusCode}: ${res.body}`)
  return res.json().agents.find((a: any) => a.agent_id === agentId)
}

export async function waitConnected (app: FastifyInstance, agentId: string, timeoutMs = CLI_WAIT_MS): Promise<any> {
  return await waitFor(`agent ${agentId} to be connected`, async () => {
    const agent = await agentSummary(app, agentId)
    return agent?.connected === true ? agent : undefined
  }, timeoutMs)
}

export async function sendPrompt (app: FastifyInstance, agentId: string, content: string): Promise<any> {
  const res = await app.inject({ method: 'POST', url: `/agents/${agentId}/messages`, payload: { content } })
  if (res.statusCode !== 202) throw new Error(`POST messages ${res.statusCode}: ${res.body}`)
  return res.json()
}

export async function clearContext (app: FastifyInstance, agentId: string): Promise<any> {
  const res = await app.inject({ method: 'POST', url: `/agents/${agentId}/clear-context` })
  if (res.statusCode !== 200) throw new Error(`POST clear-context ${res.statusCode}: ${res.body}`)
  return res.json()
}

export async function sessions (app: FastifyInstance, agentId: string): Promise<any> {
  const res = await app.inject({ method: 'GET', url: `/agents/${agentId}/sessions` })
  if (res.statusCode !== 200) throw new Error(`GET sessions ${res.statusCode}: ${res.body}`)
  return res.json()
}

/** Polls the history until `pred` holds over all of it; returns it. */
export async function untilHistory (app: FastifyInstance, agentId: string, what: string, pred: (events: any[]) => boolean, timeoutMs = CLI_WAIT_MS): Promise<any[]> {
  let last: any[] = []
  try {
    return await waitFor(what, async () => {
      last = await walk(app, agentId)
      return pred(last) ? last : undefined
    }, timeoutMs)
  } catch (err) {
    const tail = last.slice(-12).map(e => `${e.seq} ${e.event_type} ${JSON.stringify(e.content ?? '').slice(0, 60)}`).join('\n')
    throw new Error(`${(err as Error).message}\nlast events:\n${tail}`)
  }
}

/** Waits for the turn started by a prompt event (seq) to end with its result. */
export async function untilResultAfter (app: FastifyInstance, agentId: string, promptSeq: number, timeoutMs = CLI_WAIT_MS): Promise<any[]> {
  return await untilHistory(app, agentId, `the result of the turn after seq ${promptSeq}`,
    events => events.some(e => e.seq > promptSeq && e.event_type === 'result'), timeoutMs)
}

/** A prompt through the REST API, then its turn's events (prompt_sent … result, activity_changed) once stored. */
export async function turn (app: FastifyInstance, agentId: string, content: string, timeoutMs = CLI_WAIT_MS): Promise<any[]> {
  const accepted = await sendPrompt(app, agentId, content)
  const promptSeq = accepted.events[0].seq as number
  const events = await untilResultAfter(app, agentId, promptSeq, timeoutMs)
  const end = events.find(e => e.seq > promptSeq && e.event_type === 'result')
  // the result's activity_changed (idle) is committed with it
  return events.filter(e => e.seq >= promptSeq && e.seq <= end.seq + 1)
}

/** Problems with a history's integrity: seq gaps, and events that came from the same line twice. */
export function duplicates (events: any[]): string[] {
  const problems: string[] = []
  events.forEach((e, i) => { if (e.seq !== i + 1) problems.push(`seq ${e.seq} at position ${i}`) })
  const seen = new Set<string>()
  for (const e of events) {
    const uuid = e.metadata?.uuid
    if (typeof uuid !== 'string') continue
    const key = `${e.event_type} ${uuid} ${e.metadata?.id ?? e.metadata?.tool_use_id ?? ''} ${e.content ?? ''}`
    if (seen.has(key)) problems.push(`${e.event_type} from line ${uuid} stored twice`)
    seen.add(key)
  }
  return problems
}
