// The MCP endpoint: the fleet's history as tools for agents (Streamable HTTP, stateless: any instance answers).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node'
import { errorResponse } from '../src/schemas/docs.js'
import type { EventPage } from '../src/schemas/events.js'
import { httpError } from '../src/errors.js'
import { createMcpServer } from '../src/mcp/server.js'
import type { McpEngines } from '../src/mcp/tools.js'
import { AGENT_HEADER, callerOf, literalOf } from '../src/mcp/scope.js'
import { allowedHosts, rebindingRefusal } from '../src/mcp/rebinding.js'
import { packageJson } from '../src/package-root.js'
import { MCP_ROUTE } from '../plugins/auth.js'

const JsonRpcBody = Type.Union([
  Type.Object({}, { additionalProperties: true }),
  Type.Array(Type.Object({}, { additionalProperties: true }))
], { description: 'A JSON-RPC request or notification of the Model Context Protocol (initialize, tools/list, tools/call, …)' })

const refused = errorResponse('Host or Origin is not one this server answers /mcp to (DNS-rebinding protection: MCP_ALLOWED_HOSTS)', ['forbidden'])
const notAcceptable = errorResponse('Accept must name both application/json and text/event-stream, as the Streamable HTTP transport asks of clients', ['not_acceptable'])
const noBody = errorResponse('No JSON body: send the JSON-RPC message as application/json', ['unsupported_media_type'])
const stateless = errorResponse('The endpoint is stateless: no event stream to open (GET) and no session to end (DELETE)', ['method_not_allowed'])

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, history, textSearch, db } = fastify
  const hosts = allowedHosts(config.mcpAllowedHosts, config.host, config.publicUrl)
  const version = packageJson().version
  const engines: McpEngines = {
    db,
    listAgents: () => history.listAgents(),
    sessions: (agentId) => history.sessions(agentId),
    page: async (agentId, q) => {
      const text = await history.pageJson(agentId, q)
      return text === null ? null : JSON.parse(text) as Static<typeof EventPage>
    },
    search: (q, scope) => textSearch.search(q, scope)
  }

  function checkRebinding (headers: { host?: string, origin?: string }): void {
    const why = rebindingRefusal(hosts, headers.host, headers.origin)
    if (why !== null) throw httpError(403, why, 'forbidden')
  }

  fastify.post(MCP_ROUTE, {
    schema: {
      summary: 'The MCP endpoint (tools for agents)',
      description: 'Model Context Protocol over Streamable HTTP, stateless: search, list_agents, list_sessions, ' +
        'get_events and usage, for a Claude Code agent (or any MCP client) to read what the fleet did. Any valid ' +
        'token; an agent token reads only the agents its glob allows. `X-Agentlog-Agent` names the calling agent ' +
        '(its current session is left out of search). GET and DELETE answer 405: there are no streams or sessions. ' +
        'See docs/mcp.md.',
      tags: ['mcp'],
      body: JsonRpcBody,
      response: {
        200: Type.Unknown({ description: 'The JSON-RPC answer (application/json); a notification alone is answered 202 with no body' }),
        403: refused,
        406: notAcceptable,
        415: noBody
      }
    }
  }, async function (request, reply) {
    checkRebinding(request.headers)
    // the transport's own HTTP refusals, answered here in the API's error shape; errors inside the protocol
    // (a message that is not JSON-RPC, an unknown method) stay JSON-RPC errors, as MCP clients expect
    const accept = request.headers.accept ?? ''
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      throw httpError(406, 'Accept must name both application/json and text/event-stream (the Streamable HTTP transport)', 'not_acceptable')
    }
    if (request.body === undefined) throw httpError(415, 'send the JSON-RPC message as an application/json body', 'unsupported_media_type')
    const principal = request.principal
    const caller = callerOf(principal, request.headers[AGENT_HEADER], literalOf(principal?.agentGlob ?? null))
    const server = createMcpServer(engines, caller, version)
    const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    reply.hijack()
    reply.raw.on('close', () => {
      transport.close().catch(() => {})
      server.close().catch(() => {})
    })
    try {
      await server.connect(transport)
      await transport.handleRequest(request.raw, reply.raw, request.body)
    } catch (err) {
      request.log.error({ err }, 'MCP request failed')
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' })
        reply.raw.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null }))
      }
    }
  })

  for (const method of ['GET', 'DELETE'] as const) {
    fastify.route({
      method,
      url: MCP_ROUTE,
      // not part of the API: the answer the Streamable HTTP transport prescribes for a stateless server (POST /mcp says so)
      schema: { hide: true, response: { 403: refused, 405: stateless } },
      handler: async function (request, reply) {
        checkRebinding(request.headers)
        reply.header('allow', 'POST')
        throw httpError(405, `${method} ${MCP_ROUTE}: this MCP endpoint is stateless; send JSON-RPC messages with POST`, 'method_not_allowed')
      }
    })
  }
}

export default plugin
