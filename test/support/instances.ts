// Several real agentlog processes on one PostgreSQL schema (created and dropped per test), a proxy in front, and what their tests share.
import { randomUUID } from 'node:crypto'
import type WebSocket from 'ws'
import { seqProblem, startServer, type ServerProcess } from './server-process.js'
import type { SseClient } from './live-client.js'
import { startProxy, type Proxy } from './tcp-proxy.js'
import { postgresUrl, tempDatabasePath, type TestContext } from '../helper.js'

export interface Instances {
  schema: string
  servers: ServerProcess[]
  ids: string[]
  proxy: Proxy
  /** With `databaseProxy`: each instance's own way to PostgreSQL (its pool and its instance connection), by index. */
  databaseProxies: Proxy[]
  /** Ends the PostgreSQL sessions of one instance (its own connection and its pool), as a database restart would. */
  cutDatabase: (index: number) => Promise<number>
}

export async function pgQuery<R = any> (text: string, values: unknown[] = []): Promise<R[]> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    return (await client.query(text, values)).rows as R[]
  } finally {
    await client.end()
  }
}

export interface InstancesOptions {
  /** Each instance reaches PostgreSQL through its own TCP proxy (see `databaseProxies`), to cut it off alone. */
  databaseProxy?: boolean
}

export async function startInstances (t: TestContext & { teardown: (fn: () => unknown) => void }, count: number, env: Record<string, string> = {}, opts: InstancesOptions = {}): Promise<Instances> {
  const schema = `agentlog_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`
  const tag = randomUUID().slice(0, 8)
  const ids = Array.from({ length: count }, (_, i) => `i${i + 1}-${tag}`)
  const servers: ServerProcess[] = []
  let proxy: Proxy | null = null
  const databaseProxies: Proxy[] = []
  t.teardown(async () => {
    await proxy?.close()
    for (const s of servers) await s.kill()
    for (const p of databaseProxies) await p.close()
    await pgQuery(`drop schema if exists ${schema} cascade`)
  })
  const databaseUrls: string[] = []
  for (let i = 0; i < count; i++) {
    if (opts.databaseProxy !== true) { databaseUrls.push(postgresUrl); continue }
    const target = new URL(postgresUrl)
    const p = await startProxy([{ host: target.hostname, port: Number(target.port === '' ? 5432 : target.port) }])
    databaseProxies.push(p)
    target.host = new URL(p.url).host
    databaseUrls.push(target.href)
  }
  const start = async (id: string, i: number): Promise<ServerProcess> => await startServer(t, {
    databasePath: tempDatabasePath(t),
    env: { DATABASE_URL: databaseUrls[i], DATABASE_SCHEMA: schema, INSTANCE_ID: id, ...env },
    // a loaded machine may take long to compile and start several servers at once
    readyTimeoutMs: 120000
  })
  // the first creates the schema and runs the migrations; the others start together
  servers.push(await start(ids[0], 0))
  servers.push(...await Promise.all(ids.slice(1).map((id, i) => start(id, i + 1))))
  proxy = await startProxy(servers.map(s => ({ host: '127.0.0.1', port: Number(new URL(s.url).port) })))
  return {
    schema,
    servers,
    ids,
    proxy,
    databaseProxies,
    async cutDatabase (index: number) {
      const rows = await pgQuery<{ ok: boolean }>(
        'select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name in ($1, $2)',
        [`agentlog ${ids[index]}`, `agentlog-pool ${ids[index]}`])
      return rows.length
    }
  }
}

/** Lines the server sent to an agent socket (prompts, /clear), parsed. */
export function received (ws: WebSocket): any[] {
  const lines: any[] = []
  ws.on('message', (data) => {
    for (const text of data.toString().split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text))
  })
  return lines
}

export function closeOf (ws: WebSocket): Promise<number> {
  return new Promise(resolve => ws.once('close', (code) => resolve(code)))
}

export async function within<T> (what: string, p: Promise<T>, ms = 20000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

/** A can_use_tool request for Bash, as the CLI sends it. */
export function askBash (requestId: string, command: string): string {
  return JSON.stringify({
    type: 'control_request', request_id: requestId, request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command }, tool_use_id: `toolu_${requestId}` }
  }) + '\n'
}

/** The follower's events are exactly seq 1..n, each once, in order. */
export function followerProblem (s: SseClient, n: number): string | null {
  const seqs = s.events().map(e => e.seq)
  if (seqs.length !== n) return `expected ${n} events, got ${seqs.length}`
  return seqProblem(seqs.map(seq => ({ seq })))
}
