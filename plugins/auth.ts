// Who may do what: bearer tokens with a role (agent, runner, reader, operator), checked on every request but /health/*.
//
// An agent socket with a bad token is upgraded and then closed with 4003, because that is the one answer the
// Claude Code CLI takes as final (a refused upgrade makes it retry forever). Every other request, stream
// sockets included, is refused before anything is opened: 401 without a known token, 403 when the role is
// not enough.
import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import type { AuthToken, Role } from '../src/config.js'
import { httpError } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The token's holder; null when access control is off or the request needs none. */
    principal: Principal | null
    /** Set on an agent socket whose token was refused: the handler closes it with 4003 and this reason. */
    agentRefusal: string | null
  }
}

export interface Principal {
  role: Role
  /** Which configured token (1-based), for rate-limit keys and logs; never the token itself. */
  tokenNumber: number
  /** The token's name (`name=role:token`), null when it has none. */
  name: string | null
  agentPattern: RegExp | null
  /** The agent token's glob as configured (agentPattern is made from it); null: any agent, or not an agent token. */
  agentGlob: string | null
}

export const AGENT_SOCKET_ROUTE = '/ws/:agentId'
/** `agentlog runner`'s socket: runner tokens only (their glob names the runners they may be). */
export const RUNNER_SOCKET_ROUTE = '/runners/ws/:name'
/** The web viewer's page and files: public, since the page itself asks for the token. */
const PUBLIC_ROUTES = new Set(['/', '/ui/:file'])
/** Answers any valid token, an agent's too: it only says which role the token has. */
const ANY_TOKEN_ROUTES = new Set(['/auth/whoami'])
/** The MCP endpoint: any valid token; each tool keeps an agent token to the agents its glob allows. */
export const MCP_ROUTE = '/mcp'
const QUERY_TOKEN_ROUTES = new Set([AGENT_SOCKET_ROUTE, '/stream', '/agents/:agentId/events/stream'])

/** The API document and its page: any valid token reads them (an agent's too). */
function isDocsRoute (routeUrl: string): boolean {
  return routeUrl === '/openapi.json' || routeUrl === '/openapi.yaml' || routeUrl === '/docs' || routeUrl.startsWith('/docs/')
}

/** Routes a browser may give its token to as `?token=` (it cannot set headers on sockets, event streams or pages). */
export function takesQueryToken (routeUrl: string, websocket: boolean): boolean {
  return websocket || QUERY_TOKEN_ROUTES.has(routeUrl) || isDocsRoute(routeUrl)
}

/** What a request needs: nothing, an agent token, any valid token, reading, or operating. */
export function requiredRole (method: string, routeUrl: string | undefined): Role | 'any' | null {
  if (routeUrl?.startsWith('/health/') === true) return null
  if (routeUrl === MCP_ROUTE) return 'any'
  if (routeUrl !== undefined && (method === 'GET' || method === 'HEAD')) {
    if (PUBLIC_ROUTES.has(routeUrl)) return null
    if (ANY_TOKEN_ROUTES.has(routeUrl)) return 'any'
  }
  // CORS preflights carry no credentials, and never reach a handler that returns data
  if (method === 'OPTIONS') return null
  // the documentation page's scripts and styles are the swagger-ui package's files: they say nothing of this server
  if (routeUrl?.startsWith('/docs/static/') === true) return null
  if (routeUrl !== undefined && isDocsRoute(routeUrl)) return 'any'
  if (routeUrl === AGENT_SOCKET_ROUTE) return 'agent'
  if (routeUrl === RUNNER_SOCKET_ROUTE) return 'runner'
  if (method === 'GET' || method === 'HEAD') return 'reader'
  return 'operator'
}

function globToRegExp (glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}

function digest (token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}

/** Masks `token=` in a URL, for logs. */
export function redactUrl (url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[REDACTED]')
}

/** Fastify's request log fields (it passes its own request object), with the URL's token masked. */
export function requestSerializer (request: { method?: string, url?: string, host?: string, ip?: string, socket?: { remotePort?: number } }) {
  return {
    method: request.method,
    url: request.url === undefined ? undefined : redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

export function createTokenCheck (tokens: AuthToken[]) {
  const known = tokens.map((t, i) => ({
    digest: digest(t.token),
    principal: { role: t.role, tokenNumber: i + 1, name: t.name, agentPattern: t.agentGlob === null ? null : globToRegExp(t.agentGlob), agentGlob: t.agentGlob }
  }))
  /**
   * Compares against every known token, each time, on fixed-length digests: neither the length of a guess nor
   * how much of it matches changes how long this takes.
   */
  return function check (token: string): Principal | null {
    const presented = digest(token)
    let found: Principal | null = null
    for (const k of known) {
      if (timingSafeEqual(presented, k.digest) && found === null) found = k.principal
    }
    return found
  }
}

function isUpgrade (request: FastifyRequest): boolean {
  return (request.headers.upgrade ?? '').toLowerCase() === 'websocket'
}

/** The bearer token, from the Authorization header or (sockets and event streams, for browsers) `?token=`. */
function presentedToken (request: FastifyRequest, routeUrl: string | undefined): string | null | 'malformed' {
  const header = request.headers.authorization
  const query = request.query as Record<string, unknown> | undefined
  const fromQuery = query?.token
  if (query !== undefined && 'token' in query) delete query.token // never validated, echoed or passed on
  if (header !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(header)
    return match === null ? 'malformed' : match[1]
  }
  if (typeof fromQuery === 'string' && fromQuery !== '' && routeUrl !== undefined &&
      (takesQueryToken(routeUrl, false) || isUpgrade(request))) {
    return fromQuery
  }
  return null
}

const RANK: Record<Role, number> = { agent: 0, runner: 0, reader: 1, operator: 2 }

/** Why this principal may not make this request; null when it may. */
function refusal (principal: Principal, needed: Role | 'any', request: FastifyRequest, routeUrl: string | undefined): string | null {
  if (needed === 'any') return null
  const what = `${request.method} ${routeUrl ?? request.url.split('?')[0]}`
  if (needed === 'runner') {
    if (principal.role !== 'runner') return `a ${principal.role} token cannot connect as a runner`
    const name = (request.params as { name?: string }).name ?? ''
    if (principal.agentPattern !== null && !principal.agentPattern.test(name)) return `this runner token may not connect as ${JSON.stringify(name)}`
    return null
  }
  if (needed === 'agent') {
    // a runner's agents connect with the runner's token; routes/ws.ts checks that the agent is one of its own
    if (principal.role === 'runner') return null
    if (principal.role !== 'agent') return `a ${principal.role} token cannot connect as an agent`
    const agentId = (request.params as { agentId?: string }).agentId ?? ''
    if (principal.agentPattern !== null && !principal.agentPattern.test(agentId)) {
      return `this agent token may not connect as ${JSON.stringify(agentId)}`
    }
    return null
  }
  if (principal.role === 'agent' || principal.role === 'runner' || RANK[principal.role] < RANK[needed]) {
    return `${what} needs the ${needed} role; this token has ${principal.role}`
  }
  return null
}

export default fp(async function auth (fastify) {
  fastify.decorateRequest('principal', null)
  fastify.decorateRequest('agentRefusal', null)
  const { authTokens } = fastify.config
  if (authTokens.length === 0) return
  const check = createTokenCheck(authTokens)

  fastify.addHook('onRequest', async function (request, reply) {
    const routeUrl = request.routeOptions.url
    const needed = requiredRole(request.method, routeUrl)
    const token = presentedToken(request, routeUrl)
    if (needed === null) return

    let status: 401 | 403 = 401
    let message: string
    const principal = token === null || token === 'malformed' ? null : check(token)
    if (token === null) {
      message = 'this request needs a token: Authorization: Bearer <token>'
    } else if (token === 'malformed') {
      message = 'the Authorization header must be "Bearer <token>"'
    } else if (principal === null) {
      message = 'unknown token'
    } else {
      const why = refusal(principal, needed, request, routeUrl)
      if (why === null) {
        request.principal = principal
        return
      }
      status = 403
      message = why
    }

    if (routeUrl === AGENT_SOCKET_ROUTE && isUpgrade(request)) {
      // upgraded, then closed with 4003 by the route: the CLI stops instead of retrying a token that cannot work
      request.agentRefusal = message
      request.log.warn({ status, reason: message }, 'agent socket refused')
      return
    }
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="agentlog"')
    throw httpError(status, message, status === 401 ? 'unauthorized' : 'forbidden')
  })
}, { name: 'auth', dependencies: ['config'] })
