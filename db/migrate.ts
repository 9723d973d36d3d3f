// Runs the Kysely migrations in db/migrations; `npm run migrate` runs this file alone.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { FileMigrationProvider, type Kysely, Migrator } from 'kysely'

const migrationFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations')

export async function migrateToLatest (db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder })
  })
  const { error, results } = await migrator.migrateToLatest()
  if (error !== undefined) {
    const failed = results?.find(r => r.status === 'Error')
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${String((error as Error).message ?? error)}`, { cause: error })
  }
  return (results ?? []).map(r => r.migrationName)
}

async function main (): Promise<void> {
  const { loadConfig } = await import('../src/config.js')
  const { openDatabase } = await import('./connect.js')
  const config = loadConfig()
  const { db } = openDatabase(config)
  try {
    const applied = await migrateToLatest(db)
    console.log(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`)
  } finally {
    await db.destroy()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}
