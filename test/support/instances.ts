// Several real agentlog processes on one PostgreSQL schema (created and dropped per test), and a proxy in front.
import { randomUUID } from 'node:crypto'
import { startServer, type ServerProcess } from './server-process.js'
import { startProxy, type Proxy } from './tcp-proxy.js'
import { postgresUrl, tempDatabasePath, type TestContext } from '../helper.js'

export interface Instances {
  schema: string
  servers: ServerProcess[]
  ids: string[]
  proxy: Proxy
  /** Ends the PostgreSQL sessions of one instance (its own connection and its pool), as a database restart would. */
  cutDatabase: (index: number) => Promise<number>
}

async function pgQuery<R = any> (text: string, values: unknown[] = []): Promise<R[]> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    return (await client.query(text, values)).rows as R[]
  } finally {
    await client.end()
  }
}

export async function startInstances (t: TestContext & { teardown: (fn: () => unknown) => void }, count: number, env: Record<string, string> = {}): Promise<Instances> {
  const schema = `agentlog_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`
  const tag = randomUUID().slice(0, 8)
  const ids = Array.from({ length: count }, (_, i) => `i${i + 1}-${tag}`)
  const servers: ServerProcess[] = []
  let proxy: Proxy | null = null
  t.teardown(async () => {
    await proxy?.close()
    for (const s of servers) await s.kill()
    await pgQuery(`drop schema if exists ${schema} cascade`)
  })
  const start = async (id: string): Promise<ServerProcess> => await startServer(t, {
    databasePath: tempDatabasePath(t),
    env: { DATABASE_URL: postgresUrl, DATABASE_SCHEMA: schema, INSTANCE_ID: id, ...env },
    // a loaded machine may take long to compile and start several servers at once
    readyTimeoutMs: 120000
  })
  // the first creates the schema and runs the migrations; the others start together
  servers.push(await start(ids[0]))
  servers.push(...await Promise.all(ids.slice(1).map(start)))
  proxy = await startProxy(servers.map(s => ({ host: '127.0.0.1', port: Number(new URL(s.url).port) })))
  return {
    schema,
    servers,
    ids,
    proxy,
    async cutDatabase (index: number) {
      const rows = await pgQuery<{ ok: boolean }>(
        'select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name in ($1, $2)',
        [`agentlog ${ids[index]}`, `agentlog-pool ${ids[index]}`])
      return rows.length
    }
  }
}
