// The Host/Origin allow-list of /mcp (src/mcp/rebinding.ts): given / when / then.
import { test } from 'tap'
import { allowedHosts, hostName, rebindingRefusal } from '../../src/mcp/rebinding.js'

test('the names /mcp answers to by default: loopback, PUBLIC_URL\'s host, HOST when it is one address', async (t) => {
  t.same(allowedHosts(null, '127.0.0.1', 'http://127.0.0.1:7700'), ['localhost', '127.0.0.1', '[::1]'])
  t.same(allowedHosts(null, '0.0.0.0', 'https://agentlog.example.com'), ['localhost', '127.0.0.1', '[::1]', 'agentlog.example.com'])
  t.same(allowedHosts(null, '10.0.0.5', 'http://10.0.0.5:7700'), ['localhost', '127.0.0.1', '[::1]', '10.0.0.5'])
  t.same(allowedHosts(null, 'fd00::5', 'http://[fd00::5]:7700'), ['localhost', '127.0.0.1', '[::1]', '[fd00::5]'])
  t.same(allowedHosts(['Agentlog.example.com:443', 'other'], '0.0.0.0', 'http://0.0.0.0:7700'), ['agentlog.example.com', 'other'], 'MCP_ALLOWED_HOSTS replaces them')
  t.equal(allowedHosts(['*'], '0.0.0.0', 'http://0.0.0.0:7700'), '*')
  t.equal(hostName('[::1]:7700'), '[::1]')
  t.equal(hostName('Example.COM:80'), 'example.com')
})

test('a Host or Origin not on the list is refused; no Origin (not a browser) is fine', async (t) => {
  const allowed = ['localhost', '127.0.0.1', 'agentlog.example.com']
  t.equal(rebindingRefusal(allowed, '127.0.0.1:7700', undefined), null)
  t.equal(rebindingRefusal(allowed, 'agentlog.example.com', 'https://agentlog.example.com'), null)
  t.match(rebindingRefusal(allowed, 'evil.example:7700', undefined), /Host "evil\.example:7700"/)
  t.match(rebindingRefusal(allowed, undefined, undefined), /Host ""/)
  t.match(rebindingRefusal(allowed, '127.0.0.1:7700', 'http://evil.example'), /Origin "http:\/\/evil\.example"/)
  t.match(rebindingRefusal(allowed, '127.0.0.1:7700', 'null'), /Origin "null"/)
  t.match(rebindingRefusal(allowed, '127.0.0.1:7700', 'not a url'), /not a URL/)
  t.equal(rebindingRefusal('*', 'anything', 'http://evil.example'), null)
})
