// Configuration: defaults, and a ConfigError naming the variable for every bad value; the server refuses to start on one.
import { test } from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfig, parseToolPolicy } from '../src/config.js'

test('defaults', async (t) => {
  const c = loadConfig({})
  t.match(c, { host: '127.0.0.1', port: 7700, eventsMaxPerAgent: 50000, logLevel: 'info', clearContextWaitMs: 5000, databaseUrl: null })
  t.match(c.databasePath, /data\/agentlog\.db$/)
  t.same(c.toolPolicy, { mode: 'allow_all' })
  t.equal(loadConfig({ PORT: ' 8080 ', LOG_LEVEL: 'debug' }).port, 8080)
  t.equal(loadConfig({ EVENTS_MAX_PER_AGENT: '0' }).eventsMaxPerAgent, 0, '0 = unlimited')
  t.equal(loadConfig({ PORT: '' }).port, 7700, 'empty means default')
})

test('tool policies', async (t) => {
  t.same(parseToolPolicy('deny_all'), { mode: 'deny_all' })
  t.same(parseToolPolicy(' allow_all '), { mode: 'allow_all' })
  t.same(parseToolPolicy('allow:Read, Grep ,Bash'), { mode: 'allow', tools: new Set(['Read', 'Grep', 'Bash']) })
  t.same(parseToolPolicy('deny:Bash'), { mode: 'deny', tools: new Set(['Bash']) })
})

test('bad values name the variable', async (t) => {
  for (const [name, value] of [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['EVENTS_MAX_PER_AGENT', '-5'],
    ['EVENTS_MAX_PER_AGENT', 'lots'],
    ['EVENTS_MAX_PER_AGENT', '1e6'],
    ['TOOL_POLICY', 'maybe'],
    ['TOOL_POLICY', 'allow:'],
    ['TOOL_POLICY', 'deny: , '],
    ['TOOL_POLICY', 'allow_some'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'INFO '],
    ['CLEAR_CONTEXT_WAIT_MS', 'soon'],
    ['DATABASE_URL', 'mysql://x']
  ]) {
    let error: unknown
    try {
      loadConfig({ [name]: value })
    } catch (err) {
      error = err
    }
    t.ok(error instanceof ConfigError, `${name}=${value} is a ConfigError`)
    t.match((error as Error).message, new RegExp(`^${name}\\b`), `${name}=${value}: ${(error as Error).message}`)
  }
})

test('the server refuses to start on a bad value, saying which', { timeout: 30000 }, async (t) => {
  const root = fileURLToPath(new URL('../', import.meta.url))
  const loader = new URL('node_modules/@tapjs/typescript/dist/esm/import.mjs', new URL('../', import.meta.url)).href
  const child = spawn(process.execPath, [`--import=${loader}`, 'src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', TS_NODE_TRANSPILE_ONLY: '1', EVENTS_MAX_PER_AGENT: 'many', DATABASE_PATH: '/nonexistent/never/used.db' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr += chunk })
  child.stdout.resume()
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  t.equal(code, 1)
  t.match(stderr, /invalid configuration: EVENTS_MAX_PER_AGENT/)
  t.notMatch(stderr, /at .*\.ts:\d+/, 'a message, not a stack trace')
})
