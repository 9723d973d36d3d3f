// /mcp on two real instances on one PostgreSQL: an agent writes through one, and either answers the MCP client
// (the endpoint is stateless, and reads what every instance committed).
import tap, { test } from 'tap'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { postgresUrl } from './helper.js'
import { startInstances } from './support/instances.js'
import { agentSocket, opened, roundTrip, sendFrame, textLine, waitFor } from './support/server-process.js'

const skip = postgresUrl === '' ? 'DATABASE_URL is not set' : false
tap.setTimeout(6 * 60 * 1000)

async function mcpClient (t: { teardown: (fn: () => unknown) => void }, url: string, headers: Record<string, string> = {}): Promise<Client> {
  const c = new Client({ name: 'agentlog-instances-test', version: '1.0.0' })
  await c.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }))
  t.teardown(() => c.close())
  return c
}

async function call (c: Client, name: string, args: Record<string, unknown>): Promise<any> {
  const res = await c.callTool({ name, arguments: args })
  if (res.isError === true) throw new Error(`${name}: ${JSON.stringify(res.content)}`)
  return JSON.parse((res.content as Array<{ text: string }>)[0].text)
}

test('either instance answers the MCP tools about an agent connected to the other', { skip }, async (t) => {
  const { servers, ids } = await startInstances(t, 2)
  const [a, b] = servers
  const ws = agentSocket(a.wsUrl, 'writer-a')
  t.teardown(() => ws.terminate())
  await opened(ws)
  await sendFrame(ws, [textLine('the kingfisher migration deadlocks on the second run'), textLine('fixed it with an advisory lock')].map(l => l.json).join(''))
  await roundTrip(ws)

  for (const [server, name] of [[a, ids[0]], [b, ids[1]]] as const) {
    const c = await mcpClient(t, server.url)
    // the index follows the commits within about a second: ask until it covers them (bounded)
    const found = await waitFor(`search on ${name}`, async () => {
      const r = await call(c, 'search', { query: 'kingfisher migration' })
      return r.hits.length > 0 ? r : undefined
    }, 20000, 100)
    t.match(found.hits[0], { agent: 'writer-a', session: 0, seq: 1, type: 'output' }, `${name} finds it`)
    const agents = await call(c, 'list_agents', {})
    t.match(agents.agents.find((x: any) => x.agent === 'writer-a'), { state: 'connected', current_session: 0, events: 2 }, `${name} lists it connected`)
    const page = await call(c, 'get_events', { agent: 'writer-a', around: 1, limit: 2 })
    t.same(page.events.map((e: any) => e.content), ['the kingfisher migration deadlocks on the second run', 'fixed it with an advisory lock'], `${name} reads its events`)
    // the calling agent's own current session, known on either instance
    const own = await mcpClient(t, server.url, { 'x-agentlog-agent': 'writer-a' })
    t.same((await call(own, 'search', { query: 'kingfisher migration' })).hits, [], `${name} leaves out the caller's own session`)
  }
})
