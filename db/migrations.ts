// Every migration, in order, imported by name: the server ships bundled into one file (esbuild), where a folder
// read at run time would find nothing and a second copy of Kysely would be loaded. test/migration.test.ts checks
// that this list and the files in db/migrations/ agree.
import type { Migration } from 'kysely'
import * as m0001 from './migrations/0001_init.js'
import * as m0002 from './migrations/0002_lean_events.js'
import * as m0003 from './migrations/0003_approvals.js'
import * as m0004 from './migrations/0004_transcript_files.js'
import * as m0005 from './migrations/0005_search.js'
import * as m0006 from './migrations/0006_instances.js'
import * as m0007 from './migrations/0007_search_batched.js'
import * as m0008 from './migrations/0008_search_catch_up.js'
import * as m0009 from './migrations/0009_search_catch_up_postgres.js'
import * as m0010 from './migrations/0010_idempotency_keys.js'
import * as m0011 from './migrations/0011_runners.js'
import * as m0012 from './migrations/0012_usage.js'
import * as m0013 from './migrations/0013_usage_agent_days.js'

export const migrations: Record<string, Migration> = {
  '0001_init': m0001,
  '0002_lean_events': m0002,
  '0003_approvals': m0003,
  '0004_transcript_files': m0004,
  '0005_search': m0005,
  '0006_instances': m0006,
  '0007_search_batched': m0007,
  '0008_search_catch_up': m0008,
  '0009_search_catch_up_postgres': m0009,
  '0010_idempotency_keys': m0010,
  '0011_runners': m0011,
  '0012_usage': m0012,
  '0013_usage_agent_days': m0013
}
