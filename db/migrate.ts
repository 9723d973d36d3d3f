// Runs the Kysely migrations (db/migrations.ts lists them); `npm run migrate` runs them alone (db/migrate-command.ts).
import { type Kysely, type MigrationResult, Migrator } from 'kysely'
import { migrations } from './migrations.js'

/** Runs every pending migration; `schema` (PostgreSQL) is created if needed and holds Kysely's own tables too. */
export async function migrateToLatest (db: Kysely<any>, schema: string | null = null): Promise<string[]> {
  if (schema !== null) await db.schema.createSchema(schema).ifNotExists().execute()
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // without it, another schema's migration table on the search path could be taken for ours
    ...(schema !== null ? { migrationTableSchema: schema } : {})
  })
  let { error, results } = await migrator.migrateToLatest()
  // Kysely's introspector scans every schema of the database before it migrates; another schema dropped or
  // altered during that scan fails the check, not our migration: looking again succeeds
  for (let attempt = 1; attempt < 5 && error !== undefined && isOtherSchemaChanging(error, results, schema); attempt++) {
    ({ error, results } = await migrator.migrateToLatest())
  }
  if (error !== undefined) {
    const failed = results?.find(r => r.status === 'Error')
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${String((error as Error).message ?? error)}`, { cause: error })
  }
  return (results ?? []).map(r => r.migrationName)
}

/**
 * Whether a failure came from another schema changing while Kysely scanned the catalog: a schema gone (3F000,
 * naming another schema), or a table or column gone mid-scan (42P01, 42703) before any migration of ours ran.
 */
function isOtherSchemaChanging (error: unknown, results: readonly MigrationResult[] | undefined, schema: string | null): boolean {
  const err = error as { code?: unknown, message?: unknown }
  if (err?.code === '3F000') return typeof err.message === 'string' && (schema === null || !err.message.includes(`"${schema}"`))
  return (err?.code === '42P01' || err?.code === '42703') && (results === undefined || results.every(r => r.status !== 'Error'))
}
