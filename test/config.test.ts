// Configuration: defaults, and a ConfigError naming the variable for every bad value; the server refuses to start on one.
import { test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { SERVER_BUNDLE } from './support/server-process.js'
import { ConfigError, loadConfig, parseToolPolicy } from '../src/config.js'

test('defaults', async (t) => {
  const c = loadConfig({})
  t.match(c, { host: '127.0.0.1', port: 7700, eventsMaxPerAgent: 50000, logLevel: 'info', clearContextWaitMs: 5000, databaseUrl: null })
  t.match(c.databasePath, /data\/agentlog\.db$/)
  t.same(c.toolPolicy, { rules: [], otherwise: 'allow' })
  t.match(c, { approvalTimeoutMs: 15 * 60 * 1000, approvalFallback: 'deny', approvalWebhookUrl: null, publicUrl: 'http://127.0.0.1:7700' })
  t.equal(loadConfig({ PORT: ' 8080 ', LOG_LEVEL: 'debug' }).port, 8080)
  t.equal(loadConfig({ EVENTS_MAX_PER_AGENT: '0' }).eventsMaxPerAgent, 0, '0 = unlimited')
  t.match(c, { dedupeWindowLines: 5000, writeTimeoutMs: 10000 })
  t.equal(loadConfig({ DEDUPE_WINDOW_LINES: '0' }).dedupeWindowLines, 0, '0 = no window (see test/dedupe-window.test.ts)')
  t.equal(loadConfig({ PORT: '' }).port, 7700, 'empty means default')
  t.equal(c.mcpAllowedHosts, null)
  t.same(loadConfig({ MCP_ALLOWED_HOSTS: ' Agentlog.example.com:443, [::1] ' }).mcpAllowedHosts, ['agentlog.example.com:443', '[::1]'])
  t.same(loadConfig({ MCP_ALLOWED_HOSTS: '*' }).mcpAllowedHosts, ['*'])
})

test('tool policies', async (t) => {
  t.same(parseToolPolicy('deny_all'), { rules: [], otherwise: 'deny' })
  t.same(parseToolPolicy(' allow_all '), { rules: [], otherwise: 'allow' })
  t.match(parseToolPolicy('allow:Read, Grep ,Bash'), { rules: [{ tool: 'Read', decision: 'allow' }, { tool: 'Grep' }, { tool: 'Bash' }], otherwise: 'deny' })
  t.match(parseToolPolicy('deny:Bash'), { rules: [{ tool: 'Bash', decision: 'deny' }], otherwise: 'allow' })
})

test('TOOL_POLICY_FILE: a JSON policy, checked at start-up with errors naming the rule', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-policy-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'policy.json')
  writeFileSync(file, JSON.stringify({ default: 'allow', rules: [{ tool: 'Bash', input: 'git push', decision: 'ask' }] }))
  t.match(loadConfig({ TOOL_POLICY_FILE: file }).toolPolicy, { rules: [{ id: 'TOOL_POLICY_FILE rule 1', tool: 'Bash', input: 'git push', decision: 'ask' }] })
  writeFileSync(file, JSON.stringify({ rules: [{ tool: 'Bash', decision: 'ask' }, { tool: 'Write', decision: 'sometimes' }] }))
  t.throws(() => loadConfig({ TOOL_POLICY_FILE: file }), { name: 'ConfigError', message: /^TOOL_POLICY_FILE rule 2: "decision" must be allow, deny or ask/ })
  t.throws(() => loadConfig({ TOOL_POLICY_FILE: join(dir, 'missing.json') }), { message: /^TOOL_POLICY_FILE ".*missing.json" cannot be read/ })
  t.throws(() => loadConfig({ TOOL_POLICY_FILE: file, TOOL_POLICY: 'deny_all' }), { message: /^TOOL_POLICY and TOOL_POLICY_FILE are both set/ })
})

test('AUTH_TOKENS entries may carry a name', async (t) => {
  const c = loadConfig({ AUTH_TOKENS: 'alice=operator:o-1,reader:r-1,ci=agent:a-1:build-*' })
  t.same(c.authTokens, [
    { role: 'operator', token: 'o-1', name: 'alice', agentGlob: null },
    { role: 'reader', token: 'r-1', name: null, agentGlob: null },
    { role: 'agent', token: 'a-1', name: 'ci', agentGlob: 'build-*' }
  ])
  t.throws(() => loadConfig({ AUTH_TOKENS: 'a b=operator:o-1' }), { message: /^AUTH_TOKENS entry 1: the name before "=" must be/ })
  t.same(loadConfig({ AUTH_TOKENS: 'operator:o=1' }).authTokens[0], { role: 'operator', token: 'o=1', name: null, agentGlob: null }, 'an = in a token is still a token')
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
    ['TOOL_POLICY', '[{"tool":"Bash","decision":"perhaps"}]'],
    ['APPROVAL_TIMEOUT_MS', 'later'],
    ['APPROVAL_FALLBACK', 'ask'],
    ['APPROVAL_WEBHOOK_URL', 'ftp://x'],
    ['APPROVAL_WEBHOOK_FORMAT', 'xml'],
    ['MCP_ALLOWED_HOSTS', 'https://agentlog.example.com'],
    ['MCP_ALLOWED_HOSTS', 'host/path'],
    ['PUBLIC_URL', 'not a url'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'INFO '],
    ['CLEAR_CONTEXT_WAIT_MS', 'soon'],
    ['DEDUPE_WINDOW_LINES', '-1'],
    ['DEDUPE_WINDOW_LINES', '1000001'],
    ['DEDUPE_WINDOW_LINES', 'all'],
    ['WRITE_TIMEOUT_MS', '0'],
    ['WRITE_TIMEOUT_MS', '-300'],
    ['WRITE_TIMEOUT_MS', '600001'],
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
  const child = spawn(process.execPath, [SERVER_BUNDLE], {
    env: { PATH: process.env.PATH ?? '', EVENTS_MAX_PER_AGENT: 'many', DATABASE_PATH: '/nonexistent/never/used.db' },
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
