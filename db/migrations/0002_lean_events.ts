// The lean log: agents get an integer key that events and sessions carry instead of the text id; the
// (agent, session, seq) index goes (a session is a seq range); the uuid dedupe table goes (each line's uuid is
// kept on its first event, and recent ones in memory); poison lines get a table. Rebuilds conversation_events,
// sessions and agents in place, keeping every id, seq, session, total and baseline; big logs report progress.
import { type Kysely, PostgresAdapter, sql } from 'kysely'

const CHUNK = 100000

function progress (message: string): void {
  // migrations cannot reach the app's logger; one JSON line on stderr, like the app's own log lines
  process.stderr.write(JSON.stringify({ level: 30, time: Date.now(), msg: `migration 0002: ${message}` }) + '\n')
}

export async function up (db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter
  // Kysely runs PostgreSQL migrations in a transaction; SQLite's DDL is transactional too, but not run as one
  if (postgres) return await rebuild(db, true)
  await sql`begin immediate`.execute(db)
  try {
    await rebuild(db, false)
    await sql`commit`.execute(db)
  } catch (err) {
    await sql`rollback`.execute(db).catch(() => {})
    throw err
  }
}

async function rebuild (db: Kysely<any>, postgres: boolean): Promise<void> {
  // ---- agents: an integer key ----
  let agents = db.schema.createTable('agents_v2')
  agents = postgres
    ? agents.addColumn('agent_key', 'integer', col => col.primaryKey().generatedByDefaultAsIdentity())
    : agents.addColumn('agent_key', 'integer', col => col.primaryKey())
  await agents
    .addColumn('agent_id', 'text', col => col.notNull().unique())
    .addColumn('current_session', 'integer', col => col.notNull().defaultTo(0))
    .addColumn('last_seq', 'integer', col => col.notNull().defaultTo(0))
    .addColumn('created_at', 'text', col => col.notNull())
    .addColumn('last_connected_at', 'text')
    .addColumn('last_seen_at', 'text')
    .addColumn('info', 'text')
    .addColumn('cost_baseline_usd', 'double precision')
    .execute()
  await sql`insert into agents_v2 (agent_id, current_session, last_seq, created_at, last_connected_at, last_seen_at, info, cost_baseline_usd)
    select agent_id, current_session, last_seq, created_at, last_connected_at, last_seen_at, info, cost_baseline_usd
    from agents order by created_at, agent_id`.execute(db)

  // ---- events: keyed by (agent_key, seq); the line's uuid on its first event ----
  let events = db.schema.createTable('events_v2')
  events = postgres
    ? events.addColumn('id', 'bigserial', col => col.primaryKey())
    : events.addColumn('id', 'integer', col => col.primaryKey().autoIncrement())
  await events
    .addColumn('agent_key', 'integer', col => col.notNull())
    .addColumn('seq', 'integer', col => col.notNull())
    .addColumn('session_number', 'integer', col => col.notNull())
    .addColumn('event_type', 'text', col => col.notNull())
    .addColumn('content', 'text')
    .addColumn('metadata', 'text')
    .addColumn('created_at', 'text', col => col.notNull())
    .addColumn('line_uuid', 'text')
    .execute()

  const bounds = await sql<{ lo: number | null, hi: number | null, n: number }>`
    select min(id) as lo, max(id) as hi, count(*) as n from conversation_events`.execute(db)
  const { lo, hi, n } = bounds.rows[0]
  const total = Number(n)
  if (lo !== null && hi !== null) {
    if (total > CHUNK) progress(`rebuilding the event log: ${total} events`)
    let copied = 0
    for (let from = Number(lo); from <= Number(hi); from += CHUNK) {
      // a line's dedupe key sat at its first event's seq; a line that made no event may share that seq
      const result = await sql`insert into events_v2 (id, agent_key, seq, session_number, event_type, content, metadata, created_at, line_uuid)
        select e.id, a.agent_key, e.seq, e.session_number, e.event_type, e.content, e.metadata, e.created_at,
          (select max(l.uuid) from agent_lines l where l.agent_id = e.agent_id and l.seq = e.seq)
        from conversation_events e join agents_v2 a on a.agent_id = e.agent_id
        where e.id >= ${from} and e.id < ${from + CHUNK}
        order by e.id`.execute(db)
      copied += Number(result.numAffectedRows ?? 0)
      if (total > CHUNK) progress(`copied ${copied} of ${total} events`)
    }
  }
  await db.schema.dropTable('agent_lines').execute()
  await db.schema.dropTable('conversation_events').execute()
  await db.schema.alterTable('events_v2').renameTo('conversation_events').execute()
  if (postgres) {
    // the copied ids were explicit: the sequence continues after them
    await sql`select setval(pg_get_serial_sequence('conversation_events', 'id'), coalesce((select max(id) from conversation_events), 0) + 1, false)`.execute(db)
  }
  if (total > CHUNK) progress('indexing the event log')
  await db.schema.createIndex('conversation_events_agent_seq')
    .on('conversation_events').columns(['agent_key', 'seq']).unique().execute()
  await db.schema.createIndex('conversation_events_agent_type_seq')
    .on('conversation_events').columns(['agent_key', 'event_type', 'seq']).execute()

  // ---- sessions ----
  await db.schema.createTable('sessions_v2')
    .addColumn('agent_key', 'integer', col => col.notNull())
    .addColumn('session_number', 'integer', col => col.notNull())
    .addColumn('first_seq', 'integer', col => col.notNull())
    .addColumn('last_seq', 'integer', col => col.notNull())
    .addColumn('started_at', 'text', col => col.notNull())
    .addColumn('ended_at', 'text', col => col.notNull())
    .addColumn('cost_usd', 'double precision', col => col.notNull().defaultTo(0))
    .addColumn('input_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('output_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('cache_read_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addColumn('cache_creation_tokens', 'bigint', col => col.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('sessions_v2_pk', ['agent_key', 'session_number'])
    .execute()
  await sql`insert into sessions_v2 (agent_key, session_number, first_seq, last_seq, started_at, ended_at, cost_usd,
      input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)
    select a.agent_key, s.session_number, s.first_seq, s.last_seq, s.started_at, s.ended_at, s.cost_usd,
      s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_creation_tokens
    from sessions s join agents_v2 a on a.agent_id = s.agent_id`.execute(db)
  await db.schema.dropTable('sessions').execute()
  await db.schema.alterTable('sessions_v2').renameTo('sessions').execute()

  await db.schema.dropTable('agents').execute()
  await db.schema.alterTable('agents_v2').renameTo('agents').execute()

  // ---- lines set aside after their write failed on its own ----
  let setAside = db.schema.createTable('set_aside_lines')
  setAside = postgres
    ? setAside.addColumn('id', 'bigserial', col => col.primaryKey())
    : setAside.addColumn('id', 'integer', col => col.primaryKey().autoIncrement())
  await setAside
    .addColumn('agent_key', 'integer', col => col.notNull())
    .addColumn('after_seq', 'integer', col => col.notNull())
    .addColumn('session_number', 'integer', col => col.notNull())
    .addColumn('line', 'text', col => col.notNull())
    .addColumn('error', 'text', col => col.notNull())
    .addColumn('created_at', 'text', col => col.notNull())
    .execute()
  if (total > CHUNK) progress('done')
}

export async function down (): Promise<void> {
  throw new Error('0002 rebuilt the event log; restore a backup to go back to 0001')
}
