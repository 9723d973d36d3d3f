// The typed client of the REST API and the live stream: plain fetch, types from the schemas the server validates with.
// Only types are imported from the server's schemas, so the client loads nothing of the server at runtime.
import type { Static } from '@sinclair/typebox'
import type { AgentList, ClearContextResult, PromptAccepted, SessionList } from '../schemas/agents.js'
import type { ApprovalList, DecisionBody, DecisionResult, RememberedRule, RuleList } from '../schemas/approvals.js'
import type { ControlResult, PermissionModeBody } from '../schemas/control.js'
import type { EventPage, HistoryQuery, StoredEvent } from '../schemas/events.js'
import type { Health, WhoAmI } from '../schemas/health.js'
import type { SearchQuery, SearchResult } from '../schemas/search.js'
import type { AgentStreamQuery } from '../schemas/stream.js'
import type { ExportQuery, ImportPositions, ImportQuery, ImportResult } from '../schemas/transcripts.js'
import type { UsageQuery, UsageResult } from '../schemas/usage.js'
import type { AgentRunResult, ResumeAgentBody, RunnerList, StartAgentBody } from '../schemas/runners.js'
import { SseParser, type SseMessage } from './sse.js'

export type { SseMessage }

export type AgentSummary = Static<typeof AgentList>['agents'][number]
export type AgentListResult = Static<typeof AgentList>
export type { StoredEvent }
export type EventPageResult = Static<typeof EventPage>
/** Every history parameter is optional: the server fills in limit (100) and order (asc). */
export type EventsQuery = Partial<Static<typeof HistoryQuery>>
export type Sessions = Static<typeof SessionList>
export type Session = Sessions['sessions'][number]
export type PromptResult = Static<typeof PromptAccepted>
export type ClearContext = Static<typeof ClearContextResult>
export type ControlOutcome = Static<typeof ControlResult>
export type PermissionMode = Static<typeof PermissionModeBody>['mode']
export type Approvals = Static<typeof ApprovalList>
export type Approval = Approvals['approvals'][number]
export type Decision = Static<typeof DecisionBody>
/** GET /usage's parameters: group_by (comma-separated) and tz have server defaults (day, UTC). */
export type UsageParams = Partial<Static<typeof UsageQuery>>
export type Usage = Static<typeof UsageResult>
export type UsageRow = Usage['usage'][number]
export type DecisionOutcome = Static<typeof DecisionResult>
export type Rule = Static<typeof RememberedRule>
export type Rules = Static<typeof RuleList>
export type SearchParams = Omit<Static<typeof SearchQuery>, 'limit'> & { limit?: number }
export type SearchResults = Static<typeof SearchResult>
export type SearchHit = SearchResults['hits'][number]
export type HealthState = Static<typeof Health>
export type Identity = Static<typeof WhoAmI>
export type ImportParams = Partial<Static<typeof ImportQuery>>
export type ImportOutcome = Static<typeof ImportResult>
export type Runners = Static<typeof RunnerList>
export type Runner = Runners['runners'][number]
export type StartAgent = Static<typeof StartAgentBody>
export type ResumeAgent = Static<typeof ResumeAgentBody>
export type AgentRun = Static<typeof AgentRunResult>
export type ImportFiles = Static<typeof ImportPositions>
export type ExportParams = Static<typeof ExportQuery>
export type FollowQuery = Omit<Static<typeof AgentStreamQuery>, 'after'> & {
  /** a seq (exclusive) or 'latest'; default: the start of the retained log */
  after?: number | 'latest'
  signal?: AbortSignal
  /** wait this long before reconnecting after a dropped connection; default 250 ms */
  retryMs?: number
}

export interface ClientOptions {
  /** http(s)://host:port of the server */
  baseUrl: string
  /** a bearer token, when the server checks them */
  token?: string
  /** another fetch (tests, proxies); default: the global one */
  fetch?: typeof globalThis.fetch
}

/** An error answer of the server: its status, its stable `code` and its message. */
export class AgentlogError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly body: unknown = null) {
    super(message)
    this.name = 'AgentlogError'
  }
}

type Query = Record<string, string | number | boolean | undefined>

/**
 * Options of the operator POSTs. Each sends an Idempotency-Key (a fresh one unless given): to retry a request
 * safely, give the same key again, and the server answers what it answered the first time instead of doing it twice.
 */
export interface PostOptions { idempotencyKey?: string }

export interface AgentlogClient {
  listAgents: () => Promise<AgentListResult>
  events: (agentId: string, query?: EventsQuery) => Promise<EventPageResult>
  sessions: (agentId: string) => Promise<Sessions>
  sendPrompt: (agentId: string, content: string, options?: PostOptions) => Promise<PromptResult>
  clearContext: (agentId: string, options?: PostOptions) => Promise<ClearContext>
  interrupt: (agentId: string, options?: PostOptions) => Promise<ControlOutcome>
  setPermissionMode: (agentId: string, mode: PermissionMode, options?: PostOptions) => Promise<ControlOutcome>
  setModel: (agentId: string, model: string, options?: PostOptions) => Promise<ControlOutcome>
  approvals: {
    list: (query?: { agent?: string }) => Promise<Approvals>
    decide: (agentId: string, requestId: string, decision: Decision, options?: PostOptions) => Promise<DecisionOutcome>
  }
  rules: {
    list: (agentId: string) => Promise<Rules>
    delete: (agentId: string, ruleId: string) => Promise<Rule>
  }
  search: (query: SearchParams) => Promise<SearchResults>
  /** Tokens and cost grouped by day, week, month, hour, agent, session, model or project. */
  usage: (query?: UsageParams) => Promise<Usage>
  whoami: () => Promise<Identity>
  health: { live: () => Promise<HealthState>, ready: () => Promise<HealthState> }
  /** POST .../import: the body is JSONL text or bytes (a stream needs `duplex: 'half'`, which fetch handles for Uint8Array/string) */
  importLog: (agentId: string, body: string | Uint8Array, query?: ImportParams, options?: PostOptions) => Promise<ImportOutcome>
  imports: (agentId: string) => Promise<ImportFiles>
  /** GET .../export: the NDJSON lines as a byte stream */
  exportLog: (agentId: string, query?: ExportParams) => Promise<ReadableStream<Uint8Array>>
  /** Every event the query selects, page after page along next_cursor (either order). */
  walkEvents: (agentId: string, query?: EventsQuery) => AsyncGenerator<StoredEvent>
  /** The agent's events, then live ones, reconnecting after a dropped connection from the last seq seen. */
  followEvents: (agentId: string, query?: FollowQuery) => AsyncGenerator<StoredEvent>
}

export function createClient (options: ClientOptions): AgentlogClient {
  const base = options.baseUrl.replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch
  const auth: Record<string, string> = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }

  function url (path: string, query: Query = {}): string {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v))
    const qs = params.toString()
    return `${base}${path}${qs === '' ? '' : `?${qs}`}`
  }

  async function send (method: string, path: string, opts: { query?: Query, json?: unknown, body?: string | Uint8Array, type?: string, signal?: AbortSignal, accept?: string, idempotencyKey?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...auth, accept: opts.accept ?? 'application/json' }
    if (method === 'POST') headers['idempotency-key'] = opts.idempotencyKey ?? globalThis.crypto.randomUUID()
    let body: string | Uint8Array | undefined = opts.body
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(opts.json)
    } else if (body !== undefined) headers['content-type'] = opts.type ?? 'application/x-ndjson'
    const res = await doFetch(url(path, opts.query), { method, headers, body, signal: opts.signal })
    if (res.ok) return res
    throw await toError(res)
  }

  async function json<T> (method: string, path: string, opts: Parameters<typeof send>[2] = {}): Promise<T> {
    const res = await send(method, path, opts)
    return await res.json() as T
  }

  const a = (agentId: string): string => `/agents/${encodeURIComponent(agentId)}`

  async function * walkEvents (agentId: string, query: EventsQuery = {}): AsyncGenerator<StoredEvent> {
    const desc = query.order === 'desc'
    let q: EventsQuery = { ...query }
    for (;;) {
      const page = await json<EventPageResult>('GET', `${a(agentId)}/events`, { query: q as Query })
      for (const e of page.events) yield e
      if (!page.has_more || page.next_cursor === null) return
      // the cursor is a seq: the next page starts past it, in the walk's direction
      q = desc ? { ...q, before: page.next_cursor } : { ...q, after: page.next_cursor }
    }
  }

  async function * followEvents (agentId: string, query: FollowQuery = {}): AsyncGenerator<StoredEvent> {
    const { signal, retryMs = 250, after, ...filters } = query
    let last: number | 'latest' | undefined = after
    const stopped = (): boolean => signal?.aborted === true
    while (!stopped()) {
      let res: Response
      try {
        res = await send('GET', `${a(agentId)}/events/stream`, {
          query: { ...filters, after: last },
          accept: 'text/event-stream',
          signal
        })
      } catch (err) {
        if (stopped()) return
        // an answer of the server (a bad query, an unknown agent) will not get better by asking again
        if (err instanceof AgentlogError && err.status < 500 && err.status !== 429) throw err
        await pause(retryMs, signal)
        continue
      }
      try {
        for await (const message of sseMessages(res.body)) {
          if (message.id === undefined) continue // markers: caught_up, truncated, shutdown
          const event = JSON.parse(message.data) as StoredEvent
          // a resumed stream starts after the last seq seen, so this only guards against a misbehaving proxy
          if (typeof last === 'number' && event.seq <= last) continue
          last = event.seq
          yield event
        }
      } catch (err) {
        if (stopped()) return
        if (!(err instanceof TypeError) && (err as Error).name !== 'AbortError' && !isConnectionError(err)) throw err
      }
      if (stopped()) return
      await pause(retryMs, signal)
    }
  }

  return {
    listAgents: async () => await json('GET', '/agents'),
    events: async (agentId, query = {}) => await json('GET', `${a(agentId)}/events`, { query: query as Query }),
    sessions: async (agentId) => await json('GET', `${a(agentId)}/sessions`),
    sendPrompt: async (agentId, content, o = {}) => await json('POST', `${a(agentId)}/messages`, { json: { content }, ...o }),
    clearContext: async (agentId, o = {}) => await json('POST', `${a(agentId)}/clear-context`, { json: {}, ...o }),
    interrupt: async (agentId, o = {}) => await json('POST', `${a(agentId)}/interrupt`, o),
    setPermissionMode: async (agentId, mode, o = {}) => await json('POST', `${a(agentId)}/permission-mode`, { json: { mode }, ...o }),
    setModel: async (agentId, model, o = {}) => await json('POST', `${a(agentId)}/model`, { json: { model }, ...o }),
    approvals: {
      list: async (query = {}) => await json('GET', '/approvals', { query }),
      decide: async (agentId, requestId, decision, o = {}) =>
        await json('POST', `${a(agentId)}/approvals/${encodeURIComponent(requestId)}`, { json: decision, ...o })
    },
    rules: {
      list: async (agentId) => await json('GET', `${a(agentId)}/rules`),
      delete: async (agentId, ruleId) => await json('DELETE', `${a(agentId)}/rules/${encodeURIComponent(ruleId)}`)
    },
    search: async (query) => await json('GET', '/search', { query: query as Query }),
    usage: async (query = {}) => await json('GET', '/usage', { query: query as Query }),
    whoami: async () => await json('GET', '/auth/whoami'),
    health: {
      live: async () => await json('GET', '/health/live'),
      ready: async () => await json('GET', '/health/ready')
    },
    importLog: async (agentId, body, query = {}, o = {}) => await json('POST', `${a(agentId)}/import`, { query: query as Query, body, ...o }),
    imports: async (agentId) => await json('GET', `${a(agentId)}/imports`),
    exportLog: async (agentId, query = {}) => {
      const res = await send('GET', `${a(agentId)}/export`, { query: query as Query, accept: 'application/x-ndjson' })
      if (res.body === null) throw new AgentlogError(res.status, 'empty_body', 'the export answered without a body')
      return res.body
    },
    walkEvents,
    followEvents
  }
}

async function toError (res: Response): Promise<AgentlogError> {
  let body: unknown = null
  try { body = await res.json() } catch {}
  const b = (body ?? {}) as { code?: unknown, message?: unknown }
  return new AgentlogError(
    res.status,
    typeof b.code === 'string' ? b.code : 'http_error',
    typeof b.message === 'string' ? b.message : `${res.status} ${res.statusText}`,
    body
  )
}

function isConnectionError (err: unknown): boolean {
  const code = (err as { code?: unknown, cause?: { code?: unknown } })?.cause?.code ?? (err as { code?: unknown })?.code
  return typeof code === 'string' && (code.startsWith('UND_ERR') || code.startsWith('ECONN') || code === 'EPIPE')
}

async function pause (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** The messages of a text/event-stream body (the parts of the format the server uses: event, data, id, comments). */
export async function * sseMessages (body: ReadableStream<Uint8Array> | null): AsyncGenerator<SseMessage> {
  if (body === null) return
  const decoder = new TextDecoder()
  const parser = new SseParser()
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    yield * parser.push(decoder.decode(chunk, { stream: true }))
  }
}
