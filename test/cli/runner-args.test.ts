// `agentlog runner`'s command line: given argv, environment and a file system, then its options or a usage error.
import { test } from 'tap'
import { parseRunnerArgs } from '../../src/cli/runner.js'
import { runnerUrl } from '../../src/runner/link.js'
import type { ArgsIo } from '../../src/cli/args.js'

const log = (): void => {}
const io: ArgsIo = {
  cwd: '/home/me',
  readFile: (path) => {
    if (path === '/home/me/runner.token') return 'rt-1\n'
    throw Object.assign(new Error('no such file'), { code: 'ENOENT' })
  },
  isDirectory: (path) => ['/home/me/src', '/srv/repos'].includes(path),
  isExecutable: (path) => path === '/usr/bin/claude',
  ownBin: '/opt/agentlog/node_modules/.bin'
}

test('runner: roots (relative to the current directory), name, token file, the CLI, the settings', async (t) => {
  const parsed = parseRunnerArgs(['--server', 'http://h:7700', '--name', 'box-1', '--root', 'src', '--root', '/srv/repos', '--token-file', 'runner.token', '--stop-grace-ms', '2000'],
    { PATH: '/usr/bin', AGENTLOG_TOKEN: 'ignored' }, io, log)
  if (parsed === 'help') throw new Error('help')
  t.match(parsed, { name: 'box-1', server: 'http://h:7700', token: 'rt-1', roots: ['/home/me/src', '/srv/repos'], claudeBin: '/usr/bin/claude', stopGraceMs: 2000, startTimeoutMs: 50000 })
  t.equal(parsed.env.AGENTLOG_TOKEN, undefined, 'the CLIs never get the token')
  t.equal(parsed.mcp, true, 'the CLIs get agentlog\'s MCP tools by default')
  const noMcp = parseRunnerArgs(['--root', '/srv/repos', '--no-mcp'], { PATH: '/usr/bin' }, io, log)
  t.equal(noMcp !== 'help' && noMcp.mcp, false, '--no-mcp leaves them out')
  t.equal(parseRunnerArgs(['--help'], {}, io, log), 'help')
})

test('runner: usage errors say what is wrong', async (t) => {
  t.throws(() => parseRunnerArgs(['--server', 'ws://h'], { PATH: '/usr/bin' }, io, log), { name: 'UsageError', message: /--root DIR is required/ })
  t.throws(() => parseRunnerArgs(['--root', '/nope'], { PATH: '/usr/bin' }, io, log), { message: /--root \/nope is not a directory/ })
  t.throws(() => parseRunnerArgs(['--root', '/srv/repos', '--name', 'bad name'], { PATH: '/usr/bin' }, io, log), { message: /--name must be/ })
  t.throws(() => parseRunnerArgs(['--root', '/srv/repos', '--stop-grace-ms', 'soon'], { PATH: '/usr/bin' }, io, log), { message: /whole number/ })
})

test('the runner socket URL from a ws or http server', async (t) => {
  t.equal(runnerUrl('http://h:7700/', 'box-1'), 'ws://h:7700/runners/ws/box-1')
  t.equal(runnerUrl('wss://h', 'b'), 'wss://h/runners/ws/b')
  t.throws(() => runnerUrl('ftp://h', 'b'))
})
