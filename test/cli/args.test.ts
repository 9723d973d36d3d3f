// The `agentlog` command line, read into what to run: given argv, environment and a file system, then options.
import { test } from 'tap'
import { parseCommandLine, pathWithout, findOnPath, UsageError, type ArgsIo } from '../../src/cli/args.js'
import { agentUrl } from '../../src/cli/relay/options.js'
import { withoutResume } from '../../src/cli/relay/restarts.js'

const log = (): void => {}

function io (files: Record<string, string> = {}, executables: string[] = ['/usr/bin/claude'], dirs: string[] = ['/home/me/project', '/work']): ArgsIo {
  return {
    cwd: '/home/me/project',
    readFile: (path) => {
      if (!(path in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' })
      return files[path]
    },
    isDirectory: (path) => dirs.includes(path),
    isExecutable: (path) => executables.includes(path),
    ownBin: '/opt/agentlog/node_modules/.bin'
  }
}

const usage = (message: RegExp) => ({ name: 'UsageError', message })

test('connect: flags, defaults, and extra CLI arguments after --', async (t) => {
  const parsed = parseCommandLine(['connect', '--agent', 'a1', '--server', 'http://host:7700/', '--buffer-lines', '5', '--', '--model', 'opus'], { PATH: '/usr/bin' }, log, io())
  t.equal(parsed.kind, 'connect')
  if (parsed.kind !== 'connect') return
  t.match(parsed.options, {
    agentId: 'a1',
    server: 'http://host:7700/',
    token: null,
    claudeBin: '/usr/bin/claude',
    claudeArgs: ['--model', 'opus'],
    bufferLines: 5,
    replayLines: 200,
    maxRestarts: 5,
    restartWindowMs: 600000,
    verbose: false,
    cwd: '/home/me/project',
    mcp: true
  })
  const noMcp = parseCommandLine(['connect', '--agent', 'a1', '--no-mcp'], { PATH: '/usr/bin' }, log, io())
  t.match(noMcp, { kind: 'connect', options: { mcp: false } }, '--no-mcp')
  const fromEnv = parseCommandLine(['connect'], { AGENTLOG_AGENT: 'a2', AGENTLOG_SERVER: 'ws://h:1', AGENTLOG_VERBOSE: '1', CLAUDE_BIN: '/x/cli.js' }, log, io())
  t.match(fromEnv, { kind: 'connect', options: { agentId: 'a2', server: 'ws://h:1', verbose: true, claudeBin: '/x/cli.js' } })
  t.same(parseCommandLine(['--help'], {}, log, io()), { kind: 'help' })
  t.same(parseCommandLine(['--version'], {}, log, io()), { kind: 'version' })
  t.same(parseCommandLine(['serve'], {}, log, io()), { kind: 'serve' })
})

test('connect: usage errors', async (t) => {
  t.throws(() => parseCommandLine(['connect'], {}, log, io()), usage(/--agent ID is required/))
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--server', 'ftp://x'], {}, log, io()), usage(/--server must be a ws/))
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--buffer-lines', '0'], {}, log, io()), usage(/--buffer-lines must be a whole number of at least 1/))
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--max-restarts', '-1'], {}, log, io()), usage(/--max-restarts/))
  t.throws(() => parseCommandLine(['frobnicate'], {}, log, io()), usage(/unknown command "frobnicate"/))
  t.throws(() => parseCommandLine([], {}, log, io()), usage(/a command is required/))
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--bogus'], {}, log, io()), usage(/--bogus/))
  t.ok(new UsageError('x') instanceof Error)
})

test('the token: --token, --token-file or AGENTLOG_TOKEN; never passed on to the CLI', async (t) => {
  const files = { '/home/me/project/agent.token': 'tok-from-file\n', '/etc/empty': '\n' }
  const argv = parseCommandLine(['connect', '--agent', 'a', '--token', 'tok-argv'], { PATH: '/usr/bin', AGENTLOG_TOKEN: 'tok-env' }, log, io(files))
  t.match(argv, { kind: 'connect', tokenFromArgv: true, options: { token: 'tok-argv' } })
  if (argv.kind === 'connect') t.equal(argv.options.env.AGENTLOG_TOKEN, undefined, 'the agent (and its tools) never see the token')
  const file = parseCommandLine(['connect', '--agent', 'a', '--token-file', 'agent.token'], { PATH: '/usr/bin' }, log, io(files))
  t.match(file, { kind: 'connect', tokenFromArgv: false, options: { token: 'tok-from-file' } }, 'relative to the current directory, trimmed')
  const env = parseCommandLine(['connect', '--agent', 'a'], { PATH: '/usr/bin', AGENTLOG_TOKEN: ' tok-env ' }, log, io(files))
  t.match(env, { kind: 'connect', tokenFromArgv: false, options: { token: 'tok-env' } })
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--token', 'x', '--token-file', 'agent.token'], {}, log, io(files)), usage(/not both/))
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--token-file', 'missing'], {}, log, io(files)), usage(/cannot read --token-file \/home\/me\/project\/missing: ENOENT/))
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--token-file', '/etc/empty'], {}, log, io(files)), usage(/one word/))
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--token', 'two words'], {}, log, io(files)), usage(/one word/))
})

test('--cwd: the agent\'s working directory, relative to the current one; must exist', async (t) => {
  t.match(parseCommandLine(['connect', '--agent', 'a', '--cwd', '/work'], { PATH: '/usr/bin' }, log, io()), { options: { cwd: '/work' } })
  t.match(parseCommandLine(['connect', '--agent', 'a', '--cwd', '.'], { PATH: '/usr/bin' }, log, io()), { options: { cwd: '/home/me/project' } })
  t.throws(() => parseCommandLine(['connect', '--agent', 'a', '--cwd', 'nope'], { PATH: '/usr/bin' }, log, io()), usage(/--cwd \/home\/me\/project\/nope is not a directory/))
})

test('which CLI: --claude, else CLAUDE_BIN, else claude on PATH without agentlog\'s own node_modules/.bin', async (t) => {
  const own = '/opt/agentlog/node_modules/.bin'
  const fs = io({}, [`${own}/claude`, '/usr/local/bin/claude'])
  const env = { PATH: `${own}:/usr/local/bin:/usr/bin`, CLAUDE_BIN: '/env/claude' }
  t.match(parseCommandLine(['connect', '--agent', 'a', '--claude', 'bin/claude.js'], env, log, fs), { options: { claudeBin: '/home/me/project/bin/claude.js' } })
  t.match(parseCommandLine(['connect', '--agent', 'a'], env, log, fs), { options: { claudeBin: '/env/claude' } })
  const found = parseCommandLine(['connect', '--agent', 'a'], { PATH: env.PATH }, log, fs)
  t.match(found, { options: { claudeBin: '/usr/local/bin/claude' } }, 'the pinned copy in agentlog\'s node_modules is skipped')
  if (found.kind === 'connect') t.equal(found.options.env.PATH, '/usr/local/bin:/usr/bin', 'and the CLI\'s tools do not see it either')
  t.throws(() => parseCommandLine(['connect', '--agent', 'a'], { PATH: own }, log, fs), usage(/`claude` is not on PATH/))
  t.match(parseCommandLine(['connect', '--version'], { PATH: env.PATH }, log, fs), { kind: 'connect-version', claudeBin: '/usr/local/bin/claude' })
  t.equal(pathWithout(`${own}/:/a::/b`, own), '/a:/b')
  t.equal(findOnPath('claude', '/a:/usr/local/bin', p => p === '/usr/local/bin/claude'), '/usr/local/bin/claude')
  t.equal(findOnPath('claude', '/a', () => false), null)
})

test('agent URLs and arguments for a fresh process', async (t) => {
  t.equal(agentUrl('http://h:7700/', 'a b'), 'ws://h:7700/ws/a%20b')
  t.equal(agentUrl('https://h', 'a'), 'wss://h/ws/a')
  t.same(withoutResume(['--resume', 'abc', '--model', 'x', '-c', '--session-id=1', '-r', '--verbose']), ['--model', 'x', '--verbose'],
    'a fresh process must not bring the old conversation back')
})
