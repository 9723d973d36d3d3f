// The agentlog command line dispatches `import` and `export` (run as a real process, as bin/agentlog.js runs it).
import { test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, fixturesDir, listen } from './helper.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const TRANSCRIPT = join(fixturesDir(), 'claude-code-2.1.331-transcripts', 'projects', '-home-dev-project', 'b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl')

/** Runs bin/agentlog.js in `cwd` with this environment (without any AGENTLOG_ variable of ours) and `env` on top. */
function run (args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AGENTLOG_')))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'agentlog.js'), ...args], { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

test('agentlog import --help and agentlog export without an agent', async (t) => {
  const [help, missing] = await Promise.all([run(['import', '--help']), run(['export'])])
  t.equal(help.code, 0)
  t.match(help.stdout, /^usage: agentlog import \[PATH…\]/)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /agentlog export: --agent ID is required/)
})

test('agentlog import and export send the token as read: trimmed, from --token-file, none for an empty AGENTLOG_TOKEN', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: 'reader:r-123,operator:o-456' } })
  // ws://: the form connect takes, which import and export turn into http://
  const server = await listen(app)
  const sent: Array<string | undefined> = []
  app.server.on('request', (req) => { sent.push(req.headers.authorization) })
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-token-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'reader.token'), 'r-123\n')

  const imported = await run(['import', TRANSCRIPT, '--agent', 'moved'], { AGENTLOG_SERVER: server, AGENTLOG_TOKEN: ' o-456\n' })
  t.equal(imported.code, 0, 'imported', { stderr: imported.stderr })
  t.ok(sent.length >= 2, 'asked where the file stands, then sent it')
  t.same([...new Set(sent)], ['Bearer o-456'], 'AGENTLOG_TOKEN trimmed')

  sent.length = 0
  const exported = await run(['export', '--agent', 'moved', '--token-file', 'reader.token'], { AGENTLOG_SERVER: server }, dir)
  t.equal(exported.code, 0, 'exported', { stderr: exported.stderr })
  t.same(sent, ['Bearer r-123'], 'the token from the file, relative to the current directory')
  const expected = await app.inject({ url: '/agents/moved/export', headers: { authorization: 'Bearer r-123' } })
  t.equal(exported.stdout, expected.body)

  sent.length = 0
  const anonymous = await run(['export', '--agent', 'moved'], { AGENTLOG_SERVER: server, AGENTLOG_TOKEN: '' })
  t.same(sent, [undefined], 'an empty AGENTLOG_TOKEN sends no Authorization header at all')
  t.equal(anonymous.code, 1)
  t.match(anonymous.stderr, /^agentlog export: 401: this request needs a token/)

  sent.length = 0
  const both = await run(['export', '--agent', 'moved', '--token', 'r-123', '--token-file', 'reader.token'], { AGENTLOG_SERVER: server }, dir)
  t.equal(both.code, 2)
  t.match(both.stderr, /^agentlog export: give --token or --token-file, not both\n\nusage: agentlog export/)
  const missing = await run(['import', TRANSCRIPT, '--token-file', 'nope.token'], { AGENTLOG_SERVER: server }, dir)
  t.equal(missing.code, 2)
  t.match(missing.stderr, `agentlog import: cannot read --token-file ${join(dir, 'nope.token')}: ENOENT`)
  t.same(sent, [], 'a usage error sends nothing')
})
