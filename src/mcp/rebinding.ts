// DNS-rebinding protection for /mcp (pure): a browser page on another origin, made to resolve to this server,
// sends its own Host and Origin; only the names this server is reached by are answered.
/** The names a loopback server is reached by. */
export const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']

/** A Host header or URL authority's host name, lower case, without the port ('[::1]' keeps its brackets). */
export function hostName (authority: string): string {
  const a = authority.trim().toLowerCase()
  if (a.startsWith('[')) return a.slice(0, a.indexOf(']') + 1)
  const colon = a.indexOf(':')
  return colon === -1 ? a : a.slice(0, colon)
}

/**
 * The host names /mcp answers to: MCP_ALLOWED_HOSTS when set ('*': any), else the loopback names, PUBLIC_URL's host
 * and HOST when it is one address (not 0.0.0.0 or ::).
 */
export function allowedHosts (configured: string[] | null, listenHost: string, publicUrl: string): string[] | '*' {
  if (configured !== null) return configured.includes('*') ? '*' : configured.map(hostName)
  const names = new Set(LOOPBACK_NAMES)
  names.add(hostName(new URL(publicUrl).host))
  const h = listenHost.trim().toLowerCase()
  if (h !== '0.0.0.0' && h !== '::' && h !== '[::]' && h !== '') names.add(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h)
  return [...names]
}

/** Why a request's Host or Origin is refused; null when it is answered. */
export function rebindingRefusal (allowed: string[] | '*', host: string | undefined, origin: string | undefined): string | null {
  if (allowed === '*') return null
  if (host === undefined || !allowed.includes(hostName(host))) {
    return `Host ${JSON.stringify(host ?? '')} is not one this server answers /mcp to (MCP_ALLOWED_HOSTS)`
  }
  if (origin !== undefined && origin !== 'null') {
    let originHost: string
    try {
      originHost = hostName(new URL(origin).host)
    } catch {
      return `Origin ${JSON.stringify(origin)} is not a URL`
    }
    if (!allowed.includes(originHost)) return `Origin ${JSON.stringify(origin)} is not one this server answers /mcp to (MCP_ALLOWED_HOSTS)`
  } else if (origin === 'null') {
    return 'Origin "null" (a sandboxed or file page) is not answered on /mcp'
  }
  return null
}
