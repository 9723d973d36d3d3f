// Which database a test's app or server process uses: SQLite in a temp file by default; a fresh PostgreSQL
// schema per database when DATABASE_URL is set (the suite's second run), dropped after the test.
import { randomUUID } from 'node:crypto'

export interface Teardowns {
  teardown: (fn: () => unknown) => void
}

/** The PostgreSQL server the suite runs against, '' for SQLite (CI runs the whole suite both ways). */
export const postgresUrl = process.env.DATABASE_URL ?? ''

/** One schema per database path, so a test that restarts its app on the same path gets the same data back. */
const schemas = new Map<string, string>()

function newSchemaName (): string {
  return `agentlog_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`
}

export async function dropSchema (schema: string): Promise<void> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    await client.query(`drop schema if exists ${schema} cascade`)
  } finally {
    await client.end()
  }
}

/**
 * Called when a test's database path is made: on PostgreSQL the schema that stands for it is dropped on
 * teardown (tap runs teardowns last-in first-out, so after the apps and processes built on it have closed).
 */
export function ownDatabase (t: Teardowns, databasePath: string): void {
  if (postgresUrl === '') return
  t.teardown(async () => {
    const schema = schemas.get(databasePath)
    if (schema === undefined) return
    schemas.delete(databasePath)
    await dropSchema(schema)
  })
}

/**
 * The environment that points an app or a server process at the test's database: nothing extra on SQLite,
 * DATABASE_URL and a schema of its own on PostgreSQL. `sqlite` keeps a test on SQLite in both runs (tests of
 * the embedded file itself: locks, a full disk, integrity after kill -9, SQLite's query plans).
 */
export function databaseEnv (databasePath: string, sqlite = false): Record<string, string> {
  if (postgresUrl === '' || sqlite) return {}
  let schema = schemas.get(databasePath)
  if (schema === undefined) {
    schema = newSchemaName()
    schemas.set(databasePath, schema)
  }
  return { DATABASE_URL: postgresUrl, DATABASE_SCHEMA: schema }
}

/** A fresh schema not tied to a path (tests that pick PostgreSQL explicitly), dropped on teardown. */
export function freshSchema (t: Teardowns): Record<string, string> {
  const schema = newSchemaName()
  t.teardown(() => dropSchema(schema))
  return { DATABASE_URL: postgresUrl, DATABASE_SCHEMA: schema }
}
