// `npm run migrate`: brings the configured database up to date and exits (the server does the same as it starts).
import { loadConfig } from '../src/config.js'
import { openDatabase } from './connect.js'
import { migrateToLatest } from './migrate.js'

const config = loadConfig()
const { db } = openDatabase(config)
try {
  const applied = await migrateToLatest(db, config.databaseUrl !== null ? config.databaseSchema : null)
  console.log(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`)
} catch (err) {
  console.error(err instanceof Error ? err.message : err)
  process.exitCode = 1
} finally {
  await db.destroy()
}
