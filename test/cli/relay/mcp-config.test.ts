// The CLI's --mcp-config from `agentlog connect` (src/cli/relay/mcp-config.ts).
import { test } from 'tap'
import { readFileSync, statSync, existsSync } from 'node:fs'
import { mcpArgs, mcpConfig, mcpUrl, writeMcpConfig } from '../../../src/cli/relay/mcp-config.js'

test('SERVER/mcp over http(s), the agent\'s token and id in the headers', async (t) => {
  t.equal(mcpUrl('ws://127.0.0.1:7700'), 'http://127.0.0.1:7700/mcp')
  t.equal(mcpUrl('wss://agentlog.example.com/'), 'https://agentlog.example.com/mcp')
  t.equal(mcpUrl('http://h:1'), 'http://h:1/mcp')
  t.throws(() => mcpUrl('ftp://h'), /--server must be/)
  t.same(mcpConfig('ws://h:7700', 'build-1', 'tok'), {
    mcpServers: { agentlog: { type: 'http', url: 'http://h:7700/mcp', headers: { 'X-Agentlog-Agent': 'build-1', Authorization: 'Bearer tok' } } }
  })
  t.same(mcpConfig('ws://h:7700', 'build-1', null), {
    mcpServers: { agentlog: { type: 'http', url: 'http://h:7700/mcp', headers: { 'X-Agentlog-Agent': 'build-1' } } }
  }, 'no token, no Authorization')
  t.same(mcpArgs('/tmp/x.json'), ['--mcp-config=/tmp/x.json', '--allowedTools=mcp__agentlog__*'])
})

test('the file is the owner\'s alone, and removed', async (t) => {
  const file = writeMcpConfig(mcpConfig('ws://h:7700', 'a', 'secret'))
  t.equal(statSync(file.path).mode & 0o777, 0o600)
  t.match(JSON.parse(readFileSync(file.path, 'utf8')), { mcpServers: { agentlog: { headers: { Authorization: 'Bearer secret' } } } })
  file.remove()
  t.equal(existsSync(file.path), false)
})
