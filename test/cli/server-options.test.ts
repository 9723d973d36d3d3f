// --server / AGENTLOG_SERVER and --token / --token-file / AGENTLOG_TOKEN, read one way by connect, import and export.
import { test } from 'tap'
import { parseCommandLine, USAGE, type ArgsIo } from '../../src/cli/args.js'
import { EXPORT_USAGE, parseExportArgs } from '../../src/cli/export.js'
import { IMPORT_USAGE, parseImportArgs } from '../../src/cli/import.js'

const FILES: Record<string, string> = {
  '/home/me/project/agent.token': 'tok-from-file\n',
  '/etc/agentlog/empty.token': ' \n',
  '/etc/agentlog/two.token': 'tok one\n'
}

const io: ArgsIo = {
  cwd: '/home/me/project',
  readFile: (path) => {
    if (!(path in FILES)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' })
    return FILES[path]
  },
  isDirectory: (path) => path === '/home/me/project',
  isExecutable: (path) => path === '/usr/bin/claude',
  ownBin: '/opt/agentlog/node_modules/.bin'
}

/** What each command makes of the same options: the server it talks to and the token it sends. */
const commands = {
  connect (argv: string[], env: NodeJS.ProcessEnv) {
    const parsed = parseCommandLine(['connect', '--agent', 'a', ...argv], { PATH: '/usr/bin', ...env }, () => {}, io)
    if (parsed.kind !== 'connect') throw new Error(`parsed as ${parsed.kind}`)
    return { server: parsed.options.server, token: parsed.options.token }
  },
  import (argv: string[], env: NodeJS.ProcessEnv) {
    const parsed = parseImportArgs(argv, env, io)
    if (parsed === 'help') throw new Error('parsed as help')
    return { server: parsed.target.base, token: parsed.target.token }
  },
  export (argv: string[], env: NodeJS.ProcessEnv) {
    const parsed = parseExportArgs(['--agent', 'a', ...argv], env, io)
    if (parsed === 'help') throw new Error('parsed as help')
    return { server: parsed.options.target.base, token: parsed.options.target.token }
  }
}

const usage = (message: RegExp) => ({ name: 'UsageError', message })

for (const [name, read] of Object.entries(commands)) {
  test(`${name}: the token from --token, --token-file or AGENTLOG_TOKEN, trimmed; blank AGENTLOG_TOKEN is none`, async (t) => {
    const token = (argv: string[], env: NodeJS.ProcessEnv = {}) => read(argv, env).token
    t.equal(token([]), null, 'no token anywhere: none')
    t.equal(token([], { AGENTLOG_TOKEN: '' }), null, 'an empty AGENTLOG_TOKEN is no token, not an empty one')
    t.equal(token([], { AGENTLOG_TOKEN: ' \n\t' }), null)
    t.equal(token([], { AGENTLOG_TOKEN: ' tok-env\n' }), 'tok-env')
    t.equal(token(['--token', ' tok-argv '], { AGENTLOG_TOKEN: 'tok-env' }), 'tok-argv', '--token before AGENTLOG_TOKEN')
    t.equal(token(['--token-file', 'agent.token'], { AGENTLOG_TOKEN: 'tok-env' }), 'tok-from-file',
      '--token-file before AGENTLOG_TOKEN, relative to the current directory, trimmed')
  })

  test(`${name}: token usage errors`, async (t) => {
    t.throws(() => read(['--token', 'x', '--token-file', 'agent.token'], {}), usage(/give --token or --token-file, not both/))
    t.throws(() => read(['--token-file', 'missing.token'], {}), usage(/cannot read --token-file \/home\/me\/project\/missing\.token: ENOENT/))
    t.throws(() => read(['--token-file', '/etc/agentlog/empty.token'], {}), usage(/token in --token-file \/etc\/agentlog\/empty\.token must be one word/))
    t.throws(() => read(['--token-file', '/etc/agentlog/two.token'], {}), usage(/must be one word/))
    t.throws(() => read(['--token', ' '], {}), usage(/token given with --token must be one word/))
    t.throws(() => read(['--token', 'two words'], {}), usage(/must be one word/))
    t.throws(() => read([], { AGENTLOG_TOKEN: 'two words' }), usage(/token in AGENTLOG_TOKEN must be one word/))
  })
}

test('the server: --server, else AGENTLOG_SERVER, else the command\'s default; either scheme for every command', async (t) => {
  const server = (name: keyof typeof commands, argv: string[], env: NodeJS.ProcessEnv = {}) => commands[name](argv, env).server
  t.equal(server('connect', []), 'ws://127.0.0.1:7700')
  t.equal(server('import', []), 'http://127.0.0.1:7700')
  t.equal(server('export', []), 'http://127.0.0.1:7700')
  const env = { AGENTLOG_SERVER: 'ws://env-host:1/' }
  t.equal(server('connect', [], env), 'ws://env-host:1/', 'connect keeps it as given and turns http:// into ws:// when it connects')
  t.equal(server('import', [], env), 'http://env-host:1')
  t.equal(server('export', [], env), 'http://env-host:1')
  t.equal(server('connect', ['--server', 'https://flag-host'], env), 'https://flag-host')
  t.equal(server('import', ['--server', 'wss://flag-host'], env), 'https://flag-host')
  t.equal(server('export', ['--server', 'https://flag-host/'], env), 'https://flag-host')
  t.throws(() => server('connect', ['--server', 'ftp://x']), usage(/--server must be a ws/))
  t.throws(() => server('import', ['--server', 'ftp://x']), usage(/--server must be http\(s\):\/\/ or ws\(s\):\/\//))
  t.throws(() => server('export', [], { AGENTLOG_SERVER: 'not a url' }), usage(/--server must be a URL/))
})

test('every usage text lists --token-file', async (t) => {
  for (const text of [USAGE, IMPORT_USAGE, EXPORT_USAGE]) {
    t.match(text, /\[--token T(OKEN)? \| --token-file F\]/, 'in the synopsis')
    t.match(text, /\n {2}--token-file F +read the token from file F/, 'and among the options')
  }
})
