// The package as a user installs it: `npm pack`, installed from the tarball into a temporary prefix (no checkout,
// no devDependencies, no TypeScript), then `agentlog --help`, `agentlog serve` and `agentlog connect` run from an
// unrelated directory with the real Claude Code CLI, offline against the mock model API.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { sqlitePassOnly } from './helper.js'
import { CLAUDE_CLI, offlineSetup, spawnChild, waitFor } from './support/claude-cli.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

// building, and installing better-sqlite3 (compiled from source on this machine), take minutes under load
t.setTimeout(20 * 60 * 1000)

function run (command: string, args: string[], opts: { cwd: string, env?: NodeJS.ProcessEnv, timeoutMs: number }): Promise<{ stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-4000)}`))
      else resolve({ stdout, stderr })
    })
  })
}

t.test('npm pack, install the tarball into a temporary prefix, serve and connect from anywhere', { skip: sqlitePassOnly }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'agentlog-pack-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const prefix = join(work, 'prefix')
  const elsewhere = join(work, 'somewhere', 'else')

  // what npm test built (npm run build runs first): packed as it is, without the prepare script, which would
  // rewrite dist/ under the browser tests running beside this one
  t.ok(existsSync(join(ROOT, 'dist', 'bundle', 'server.js')), 'built before the tests ran')
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, timeoutMs: 10 * 60 * 1000 })
  const [info] = JSON.parse(packed.stdout)
  const files: string[] = info.files.map((f: { path: string }) => f.path)
  t.ok(files.includes('bin/agentlog.js'))
  t.ok(files.includes('dist/bundle/server.js') && files.includes('dist/bundle/main.js') && files.includes('dist/bundle/thread.js'), 'the bundles the command and the server run')
  t.ok(files.includes('dist/src/cli/main.js'))
  t.ok(files.includes('dist/src/server.js'))
  t.ok(files.includes('dist/src/client/index.js') && files.includes('dist/src/client/index.d.ts'), 'the typed client, with its types')
  t.ok(files.some(f => f.startsWith('dist/db/migrations/') && f.endsWith('.js')), 'the migrations')
  t.same(files.filter(f => (f.endsWith('.ts') && !f.startsWith('dist/src/')) || f.startsWith('test/') || f.startsWith('src/') || f.startsWith('dist/test/') || f.startsWith('dist/bench/')), [],
    'no TypeScript sources, tests or benchmarks')

  // from the local npm cache where it can; better-sqlite3 built here rather than downloaded
  await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--allow-scripts=better-sqlite3', '--no-audit', '--no-fund', join(work, info.filename)], {
    cwd: work,
    env: { ...process.env, npm_config_build_from_source: 'true' },
    timeoutMs: 15 * 60 * 1000
  })
  const installed = join(prefix, 'lib', 'node_modules', 'agentlog')
  for (const dev of ['typescript', 'tap', '@anthropic-ai/claude-code', 'claude-code-newest', 'esbuild', 'eslint']) {
    t.notOk(existsSync(join(installed, 'node_modules', dev)), `no ${dev} (a devDependency)`)
  }
  const agentlog = join(prefix, 'bin', 'agentlog')
  await run('mkdir', ['-p', elsewhere], { cwd: work, timeoutMs: 5000 })

  const help = await run(agentlog, ['--help'], { cwd: elsewhere, timeoutMs: 30000 })
  t.match(help.stdout, /usage: agentlog serve\n\s+agentlog connect --agent ID/)

  const setup = await offlineSetup(t)
  const server = spawnChild(t, 'agentlog serve', agentlog, ['serve'], {
    cwd: elsewhere,
    env: { PATH: process.env.PATH ?? '', HOME: work, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' }
  })
  const port = await waitFor('the server to listen', () => {
    const found = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(server.stdout())
    if (server.exit() !== null) throw new Error(`agentlog serve exited: ${server.stderr()}${server.stdout()}`)
    return found?.[1]
  }, 60000)
  const base = `http://127.0.0.1:${port}`
  t.ok(existsSync(join(elsewhere, 'data', 'agentlog.db')), 'the database lives where serve was started')

  const conn = spawnChild(t, 'agentlog connect', agentlog, ['connect', '--agent', 'packed', '--server', base, '--claude', CLAUDE_CLI], {
    cwd: elsewhere,
    env: setup.claude.env
  })
  await waitFor('the agent to connect', async () => {
    if (conn.exit() !== null) throw new Error(`agentlog connect exited: ${conn.stderr()}`)
    const agents = await (await fetch(`${base}/agents`)).json() as { agents: Array<{ agent_id: string, connected: boolean }> }
    return agents.agents.some(a => a.agent_id === 'packed' && a.connected) ? true : undefined
  }, 60000)
  t.match(conn.stderr(), `agentlog connect: agent packed in ${elsewhere}: running ${CLAUDE_CLI}`)
  const sent = await fetch(`${base}/agents/packed/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'Say hello from the package' }) })
  t.equal(sent.status, 202)
  const output = await waitFor('the answer in the history', async () => {
    const page = await (await fetch(`${base}/agents/packed/events?type=output`)).json() as { events: Array<{ content: string }> }
    return page.events[0]?.content
  }, 60000)
  t.equal(output, 'Hello! This is the mock model answering: Say hello from the package')

  conn.child.kill('SIGTERM')
  await conn.waitExit()
  server.child.kill('SIGTERM')
  t.same(await server.waitExit(30000), { code: 0, signal: null }, 'serve shuts down cleanly')
})
