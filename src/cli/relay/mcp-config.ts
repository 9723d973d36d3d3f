// The agentlog MCP server, handed to the CLI the relay runs: `--mcp-config` naming SERVER/mcp with the agent's token
// and its id, and `--allowedTools` for its tools, so an agent searches the fleet's history with no setup.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The server's name in the CLI's configuration: its tools are mcp__agentlog__search, … */
export const MCP_SERVER_NAME = 'agentlog'
/** Every tool of the agentlog server, as --allowedTools takes it. */
export const MCP_ALLOWED_TOOLS = `mcp__${MCP_SERVER_NAME}__*`
/** The header that names the calling agent (src/mcp/scope.ts reads it). */
export const MCP_AGENT_HEADER = 'X-Agentlog-Agent'

/** SERVER/mcp as an http(s):// URL, for a server given as ws(s):// or http(s)://. */
export function mcpUrl (server: string): string {
  const base = server.trim().replace(/\/+$/, '').replace(/^ws(s?):\/\//, 'http$1://')
  if (!/^https?:\/\//.test(base)) throw new Error(`--server must be a ws://, wss://, http:// or https:// URL, got ${JSON.stringify(server)}`)
  return `${base}/mcp`
}

/** The CLI's --mcp-config document (pure). */
export function mcpConfig (server: string, agentId: string, token: string | null): Record<string, unknown> {
  const headers: Record<string, string> = { [MCP_AGENT_HEADER]: agentId }
  if (token !== null) headers.Authorization = `Bearer ${token}`
  return { mcpServers: { [MCP_SERVER_NAME]: { type: 'http', url: mcpUrl(server), headers } } }
}

/**
 * The CLI arguments that load it. `--opt=value`: both options take several values, and the form with `=` ends
 * each at once, so whatever the user's arguments start with is never read as one more of them.
 */
export function mcpArgs (configFile: string): string[] {
  return [`--mcp-config=${configFile}`, `--allowedTools=${MCP_ALLOWED_TOOLS}`]
}

/**
 * Writes the document to a file of its own (mode 0600, in a directory only this user reads): the token stays out
 * of the process list, where an inline JSON argument would show it. `remove` deletes it when the relay ends.
 */
export function writeMcpConfig (config: Record<string, unknown>): { path: string, remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-mcp-'))
  const path = join(dir, 'mcp.json')
  writeFileSync(path, JSON.stringify(config), { mode: 0o600 })
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
