// The MCP tools: the fleet's history, searched and read by an agent. Each calls the engines the REST routes call,
// narrowed to what the caller may read; a mistake of the caller (an unknown agent, a query that does not parse) is
// a tool error the model reads, never a protocol failure.
import type { Kysely } from 'kysely'
import type { Static, TSchema } from '@sinclair/typebox'
import { fromJsonSchema, type CallToolResult, type McpServer } from '@modelcontextprotocol/server'
import type { Database } from '../../db/schema.js'
import type { AgentList, SessionList } from '../schemas/agents.js'
import type { EventPage, HistoryQueryType } from '../schemas/events.js'
import type { SearchQueryType, SearchResult } from '../schemas/search.js'
import { GetEventsArgs, ListAgentsArgs, ListSessionsArgs, SearchArgs, UsageArgs } from '../schemas/mcp.js'
import type { SearchScope } from '../search/scope.js'
import { visible, type Caller } from './scope.js'
import { aroundSplit, cut, toolEvent, toolHit, type ToolEvent } from './format.js'
import { firstPrompts, lastActivity } from './reads.js'
import { UsageArgumentError, usageTotals } from './usage.js'

/** The engines the tools read through (the history, the search), and the database for the rest. */
export interface McpEngines {
  db: Kysely<Database>
  listAgents: () => Promise<Static<typeof AgentList>>
  sessions: (agentId: string) => Promise<Static<typeof SessionList> | null>
  page: (agentId: string, q: HistoryQueryType) => Promise<Static<typeof EventPage> | null>
  search: (q: SearchQueryType, scope: SearchScope) => Promise<Static<typeof SearchResult>>
}

/** A mistake the model can correct: answered as a tool error with this message. */
class ToolError extends Error {}

function json (value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }] }
}

/** The caller's mistakes (ours, and the engines' 4xx errors) become tool errors; faults stay faults. */
async function answer (fn: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return json(await fn())
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode
    if (err instanceof ToolError || (typeof status === 'number' && status >= 400 && status < 500)) {
      return { content: [{ type: 'text', text: (err as Error).message }], isError: true }
    }
    throw err
  }
}

function schema<T extends TSchema> (s: T) {
  return fromJsonSchema<Static<T>>(s as unknown as Parameters<typeof fromJsonSchema>[0])
}

// compiled once (a validator each), not for every request: a request builds a new server with these tools
const INPUTS = {
  search: schema(SearchArgs),
  listAgents: schema(ListAgentsArgs),
  listSessions: schema(ListSessionsArgs),
  getEvents: schema(GetEventsArgs),
  usage: schema(UsageArgs)
}

function unknownAgent (agentId: string): ToolError {
  return new ToolError(`unknown agent ${JSON.stringify(agentId)}: list_agents names the agents you can read`)
}

export function registerTools (server: McpServer, engines: McpEngines, caller: Caller): void {
  const { db } = engines

  async function visibleAgents (): Promise<Static<typeof AgentList>['agents']> {
    const { agents } = await engines.listAgents()
    return agents.filter(a => visible(caller, a.agent_id))
  }

  server.registerTool('search', {
    title: 'Search the fleet\'s history',
    description: 'Full-text search over what every agent of the fleet did: their output, thinking, tool calls and ' +
      'results (command output, errors), prompts and turn results. Use it before a task to find whether another agent ' +
      'met the same error, file or problem, and what it did. Returns hits (agent, session, seq, type, time, snippet), ' +
      'best first; read what happened around a hit with get_events {agent, around: seq}. Your own current session is ' +
      'left out unless include_own_session is true.',
    inputSchema: INPUTS.search,
    annotations: { readOnlyHint: true, openWorldHint: false }
  }, async (args) => answer(async () => {
    if (args.agent !== undefined && !visible(caller, args.agent)) throw unknownAgent(args.agent)
    let exclude: SearchScope['exclude'] = null
    if (caller.agentId !== null && args.include_own_session !== true) {
      const own = await engines.sessions(caller.agentId)
      if (own !== null) exclude = { agent: caller.agentId, session: own.current_session }
    }
    const agents = caller.pattern === null ? null : (await visibleAgents()).map(a => a.agent_id)
    const result = await engines.search({
      q: args.query,
      agent: args.agent,
      session: args.session,
      type: args.type?.join(','),
      after: args.since,
      before: args.until,
      limit: args.limit ?? 10,
      cursor: args.cursor
    }, { agents, exclude })
    return { hits: result.hits.map(toolHit), next_cursor: result.next_cursor }
  }))

  server.registerTool('list_agents', {
    title: 'List the fleet\'s agents',
    description: 'Every agent whose history you can read: its state (busy, idle or disconnected), current session, ' +
      'last activity, working directory, model and total cost in USD. The ids are what search, list_sessions and ' +
      'get_events take.',
    inputSchema: INPUTS.listAgents,
    annotations: { readOnlyHint: true, openWorldHint: false }
  }, async () => answer(async () => {
    const agents = await visibleAgents()
    const activity = await lastActivity(db, agents.filter(a => a.connected).map(a => a.agent_id))
    return {
      agents: agents.map(a => ({
        agent: a.agent_id,
        state: a.connected ? (activity.get(a.agent_id) ?? 'connected') : 'disconnected',
        current_session: a.current_session,
        last_activity: a.last_seen_at ?? a.last_connected_at ?? a.created_at,
        cwd: typeof a.info?.cwd === 'string' ? a.info.cwd : null,
        model: typeof a.info?.model === 'string' ? a.info.model : null,
        cost_usd: a.cost_usd,
        events: a.event_count
      }))
    }
  }))

  server.registerTool('list_sessions', {
    title: 'List an agent\'s sessions',
    description: 'An agent\'s sessions, newest first (a session ends when its context is cleared): number, first ' +
      'prompt, seq range, start and end times, cost in USD. Read one with get_events {agent, session}.',
    inputSchema: INPUTS.listSessions,
    annotations: { readOnlyHint: true, openWorldHint: false }
  }, async (args) => answer(async () => {
    if (!visible(caller, args.agent)) throw unknownAgent(args.agent)
    const found = await engines.sessions(args.agent)
    if (found === null) throw unknownAgent(args.agent)
    const newest = found.sessions.slice(-(args.limit ?? 20)).reverse()
    const prompts = await firstPrompts(db, args.agent, newest)
    return {
      agent: args.agent,
      current_session: found.current_session,
      total_sessions: found.sessions.length,
      sessions: newest.map(s => ({
        session: s.session_number,
        first_prompt: firstLine(prompts.get(s.session_number)),
        first_seq: s.first_seq,
        last_seq: s.last_seq,
        events: s.event_count,
        started_at: s.started_at,
        ended_at: s.ended_at,
        cost_usd: s.cost_usd
      }))
    }
  }))

  server.registerTool('get_events', {
    title: 'Read an agent\'s events',
    description: 'A page of one agent\'s log in seq order: the events around a seq (a search hit\'s), after a seq, ' +
      'before a seq, or the newest; optionally one session or some event types. Each event\'s content and metadata ' +
      '(a tool\'s input, a result\'s counters) are cut to max_chars. Page on with after = the last seq (has_more_after) ' +
      'or before = the first seq (has_more_before).',
    inputSchema: INPUTS.getEvents,
    annotations: { readOnlyHint: true, openWorldHint: false }
  }, async (args) => answer(async () => {
    if (!visible(caller, args.agent)) throw unknownAgent(args.agent)
    const given = [args.around, args.after, args.before].filter(x => x !== undefined).length
    if (given > 1) throw new ToolError('give at most one of around, after and before')
    const limit = args.limit ?? 20
    const max = args.max_chars ?? 1000
    const base = { session: args.session, type: args.type?.join(',') }
    const read = async (q: Omit<HistoryQueryType, 'session' | 'type'>) => {
      const page = await engines.page(args.agent, { ...base, ...q })
      if (page === null) throw unknownAgent(args.agent)
      return page
    }
    let events: Static<typeof EventPage>['events']
    let moreBefore: boolean
    let moreAfter: boolean
    let latest: number
    if (args.around !== undefined) {
      const split = aroundSplit(limit)
      const older = await read({ before: args.around + 1, limit: split.upTo, order: 'desc' })
      const newer = split.after === 0 ? null : await read({ after: args.around, limit: split.after, order: 'asc' })
      events = [...older.events.reverse(), ...(newer?.events ?? [])]
      moreBefore = older.has_more
      moreAfter = newer === null ? events.length > 0 && events[events.length - 1].seq < older.latest_seq : newer.has_more
      latest = older.latest_seq
    } else if (args.after !== undefined) {
      const page = await read({ after: args.after, limit, order: 'asc' })
      events = page.events
      moreBefore = events.length > 0 && page.oldest_seq !== null && events[0].seq > page.oldest_seq
      moreAfter = page.has_more
      latest = page.latest_seq
    } else {
      // before a seq, or the newest: read backwards, answer in order
      const page = await read({ before: args.before, limit, order: 'desc' })
      events = page.events.reverse()
      moreBefore = page.has_more
      moreAfter = args.before !== undefined && events.length > 0 && events[events.length - 1].seq < page.latest_seq
      latest = page.latest_seq
    }
    const out: ToolEvent[] = events.map(e => toolEvent(e, max))
    return { agent: args.agent, events: out, has_more_before: moreBefore, has_more_after: moreAfter, latest_seq: latest }
  }))

  server.registerTool('usage', {
    title: 'Cost and tokens of the fleet',
    description: 'Cost in USD and tokens used in a period (UTC hours; all time by default), per agent or per model ' +
      '(as the CLI and transcripts name the models), biggest cost first, with the total and the models that have no price.',
    inputSchema: INPUTS.usage,
    annotations: { readOnlyHint: true, openWorldHint: false }
  }, async (args) => answer(async () => {
    if (args.agent !== undefined && !visible(caller, args.agent)) throw unknownAgent(args.agent)
    try {
      return await usageTotals(db, {
        since: iso(args.since, 'since'), until: iso(args.until, 'until'), by: args.by ?? 'agent', agent: args.agent, visible: id => visible(caller, id)
      })
    } catch (err) {
      if (err instanceof UsageArgumentError) throw new ToolError(err.message)
      throw err
    }
  }))
}

/** A session's first prompt, short enough for a listing. */
function firstLine (prompt: string | undefined): string | null {
  if (prompt === undefined) return null
  const c = cut(prompt, 300)
  return c.omitted > 0 ? `${c.text}…` : c.text
}

function iso (value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined
  const t = Date.parse(value)
  if (Number.isNaN(t)) throw new ToolError(`${name}: not an ISO-8601 time (e.g. 2026-05-01T12:00:00Z)`)
  return new Date(t).toISOString()
}
