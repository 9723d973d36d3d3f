// The PostgreSQL pool survives a connection the server ends while it is in use: the query in flight fails and
// says so, the process goes on, and the next query gets a new connection.
import { test } from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { openDatabase } from '../db/connect.js'
import { postgresUrl } from './support/database.js'
import { pgQuery } from './support/instances.js'

test('a connection ended by the server inside a transaction fails that transaction, not the process', { skip: postgresUrl === '' ? 'DATABASE_URL is not set' : false }, async (t) => {
  const name = `agentlog-test ${randomUUID()}`
  const { db } = openDatabase({ databasePath: '', databaseUrl: postgresUrl, applicationName: name })
  t.teardown(() => db.destroy())
  const uncaught: Error[] = []
  const onUncaught = (err: Error): void => { uncaught.push(err) }
  process.on('uncaughtException', onUncaught)
  t.teardown(() => { process.off('uncaughtException', onUncaught) })

  const failed = await db.transaction().execute(async (trx) => {
    await sql`select 1`.execute(trx)
    const ended = await pgQuery<{ ok: boolean }>('select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1', [name])
    t.same(ended.map(r => r.ok), [true], 'the server ended the connection the transaction holds')
    await sql`select 2`.execute(trx)
  }).then(() => null, (err: Error) => err)
  t.match(failed?.message, /terminat|connection error/i, 'the transaction failed with the connection')

  const after = await sql<{ n: number }>`select 3 as n`.execute(db)
  t.same(after.rows, [{ n: 3 }], 'the next query runs on a new connection')
  // an 'error' event with no listener is thrown on the next turn: wait for a few before looking
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(uncaught.map(e => e.message), [], 'nothing was thrown past the pool')
})
