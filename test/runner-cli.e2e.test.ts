// `agentlog runner` as a user runs it (the bundle), with the real Claude Code CLI (the pinned 2.1.112 and the
// newest native binary) offline against the model stand-in: start with a prompt, stop, resume the same Claude
// session, a worktree created, used and removed, a directory outside the roots, the runner killed with -9 (no CLI
// left) and started again (its agents resumed).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, listen } from './helper.js'
import { CLAUDE_CLI, CLAUDE_NEWEST, CONNECT_MAIN, nativeClaude, offlineSetup, spawnChild, untilHistory, waitFor, type OfflineSetup } from './support/claude-cli.js'

function startRunner (t: Parameters<typeof build>[0], setup: OfflineSetup, base: string, bin: string, root: string) {
  return spawnChild(t, 'agentlog runner', process.execPath, [CONNECT_MAIN, 'runner', '--server', base, '--name', 'box-e2e', '--root', root, '--verbose', '--stop-grace-ms', '2000'], {
    cwd: setup.claude.cwd,
    env: { ...setup.claude.env, CLAUDE_BIN: bin }
  })
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pids of the CLIs the runner started, from its log. */
function cliPids (stderr: string): number[] {
  return [...stderr.matchAll(/started .* \(pid (\d+)\)/g)].map(m => Number(m[1]))
}

async function post (app: FastifyInstance, url: string, payload: unknown) {
  const res = await app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> })
  return { status: res.statusCode, body: res.json() }
}

for (const version of ['2.1.112', CLAUDE_NEWEST]) {
  test(`agentlog runner with Claude Code ${version}: start, stop, resume, worktrees, roots, kill -9 and restart`, async (t) => {
    const bin = version === '2.1.112' ? CLAUDE_CLI : await nativeClaude(version)
    const setup = await offlineSetup(t)
    const app = await build(t, { env: { RUNNER_START_TIMEOUT_MS: '60000', RUNNER_STOP_GRACE_MS: '2000' } })
    const base = await listen(app)
    const root = join(setup.claude.cwd, 'projects')
    const repo = join(root, 'repo')
    mkdirSync(repo, { recursive: true })
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).toString()
    git('init', '-q', '-b', 'main')
    writeFileSync(join(repo, 'README'), 'hi\n')
    git('add', '.')
    git('commit', '-qm', 'first')

    let runner = startRunner(t, setup, base, bin, root)
    await waitFor('the runner to connect', () => app.fleet.isConnected('box-e2e') ? true : undefined, 60000)
    const listed = (await app.inject({ method: 'GET', url: '/runners' })).json().runners[0]
    t.match(listed, { name: 'box-e2e', roots: [root], connected: true, agents: [] })
    t.match(listed.claude_version, version)

    // start with a first prompt: its turn is in the history
    const started = await post(app, '/runners/box-e2e/agents', { agent_id: 'e1', cwd: repo, prompt: 'Say hello FIRST' })
    t.equal(started.status, 201, JSON.stringify(started.body))
    t.match(started.body, { agent_id: 'e1', runner: 'box-e2e', cwd: repo, state: 'running' })
    await untilHistory(app, 'e1', 'the first turn\'s result', evs => evs.some(e => e.event_type === 'result'), 60000)
    const firstPid = cliPids(runner.stderr())[0]
    t.ok(alive(firstPid), 'the CLI runs')

    // stop: the CLI ends and is not restarted
    const stopped = await post(app, '/agents/e1/stop', {})
    t.equal(stopped.status, 200, JSON.stringify(stopped.body))
    t.equal(stopped.body.state, 'stopped')
    await waitFor('the CLI to be gone', () => alive(firstPid) ? undefined : true, 10000)
    t.equal(app.agents.isConnected('e1'), false)

    // resume: the same Claude session (the model sees the first prompt), the same agent log
    const before = app.events.getAgent('e1')?.committed.lastSeq ?? 0
    const resumed = await post(app, '/agents/e1/resume', {})
    t.equal(resumed.status, 201, JSON.stringify(resumed.body))
    t.ok(resumed.body.claude_session_id, 'a Claude session was resumed')
    const requestsBefore = setup.api.requests.length
    const answer = await post(app, '/agents/e1/messages', { content: 'And again SECOND' })
    t.equal(answer.status, 202)
    await untilHistory(app, 'e1', 'the second turn\'s result', evs => evs.filter(e => e.event_type === 'result').length === 2, 60000)
    const second = setup.api.requests.slice(requestsBefore).find(r => r.prompt?.includes('SECOND') === true)
    t.ok(second?.userTexts.some(text => text.includes('Say hello FIRST')), 'the resumed CLI sent the earlier messages to the model')
    const log = (await app.inject({ method: 'GET', url: '/agents/e1/events?limit=1000' })).json().events
    t.same(log.filter((e: any) => e.event_type === 'agent_started').map((e: any) => e.metadata.reason), ['started', 'resumed'])
    t.ok(log.some((e: any) => e.event_type === 'agent_stopped'))
    t.ok(log.filter((e: any) => e.seq > before).length > 0, 'the log continued on the same agent')

    // a directory outside the roots is refused
    const outside = await post(app, '/runners/box-e2e/agents', { cwd: '/tmp' })
    t.equal(outside.status, 400)
    t.equal(outside.body.code, 'cwd_not_allowed')
    const missing = await post(app, '/runners/box-e2e/agents', { cwd: join(root, 'nope') })
    t.equal(missing.body.code, 'cwd_not_allowed')

    // a worktree: created, used, kept out of the repository's status, removed only when clean
    const wt = await post(app, '/runners/box-e2e/agents', { agent_id: 'w1', cwd: repo, worktree: true, prompt: 'WRITE_FILE please' })
    t.equal(wt.status, 201, JSON.stringify(wt.body))
    const path = join(repo, '.agentlog', 'worktrees', 'w1')
    t.match(wt.body.worktree, { name: 'w1', path, branch: 'agentlog/w1', base: 'HEAD', repository: repo })
    t.equal(wt.body.cwd, path)
    t.ok(existsSync(join(path, 'README')), 'the worktree holds the repository')
    t.equal(git('status', '--porcelain'), '', 'the worktrees stay out of the repository\'s status')
    writeFileSync(join(path, 'scratch.txt'), 'uncommitted\n')
    const dirty = await post(app, '/agents/w1/stop', { remove_worktree: true })
    t.equal(dirty.status, 409)
    t.equal(dirty.body.code, 'worktree_dirty')
    t.ok(existsSync(path), 'nothing removed')
    rmSync(join(path, 'scratch.txt'))
    rmSync(join(path, 'note.txt'), { force: true })
    const removed = await post(app, '/agents/w1/stop', { remove_worktree: true })
    t.equal(removed.status, 200, JSON.stringify(removed.body))
    t.equal(removed.body.worktree_removed, true)
    t.notOk(existsSync(path), 'the worktree is gone')
    t.match(git('branch', '--list', 'agentlog/w1'), 'agentlog/w1', 'its branch is kept')

    // kill -9: the reaper ends the CLIs; the server marks the runner gone
    const pids = cliPids(runner.stderr())
    const running = pids.filter(alive)
    t.ok(running.length >= 1, 'e1 runs')
    runner.child.kill('SIGKILL')
    await runner.exited
    const killedAt = Date.now()
    await waitFor('every CLI to be gone', () => running.some(alive) ? undefined : true, 20000)
    t.ok(Date.now() - killedAt < 3000 + 4000 + 2000, `no CLI left ${Date.now() - killedAt} ms after the runner died`)
    await waitFor('the runner marked gone', async () => (await app.inject({ method: 'GET', url: '/runners' })).json().runners[0].connected === false ? true : undefined, 10000)

    // started again: its agent is resumed
    runner = startRunner(t, setup, base, bin, root)
    await waitFor('e1 back', () => app.agents.isConnected('e1') ? true : undefined, 60000)
    const reasons = await untilHistory(app, 'e1', 'the restart\'s agent_started', evs => evs.filter(e => e.event_type === 'agent_started').length === 3, 30000)
    t.equal(reasons.filter(e => e.event_type === 'agent_started')[2].metadata.reason, 'runner_restarted')
    runner.child.kill('SIGTERM')
    t.same(await runner.waitExit(20000), { code: 0, signal: null }, 'SIGTERM: the runner stops its CLIs and exits 0')
    t.notOk(cliPids(runner.stderr()).some(alive), 'no CLI left after SIGTERM')
  })
}
