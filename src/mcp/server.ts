// One MCP server for one request (the endpoint is stateless: any instance answers any request).
import { McpServer } from '@modelcontextprotocol/server'
import { registerTools, type McpEngines } from './tools.js'
import type { Caller } from './scope.js'

export const MCP_SERVER_NAME = 'agentlog'

export function createMcpServer (engines: McpEngines, caller: Caller, version: string): McpServer {
  const server = new McpServer({ name: MCP_SERVER_NAME, version }, {
    instructions: 'agentlog holds every session of every agent of this fleet. Before you start on an error, a flaky ' +
      'test or an unfamiliar part of the code, search it: another agent may have met it already, and get_events shows ' +
      'what it did next.'
  })
  registerTools(server, engines, caller)
  return server
}
