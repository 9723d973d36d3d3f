// Kysely over the main thread's SQLite connection: its statements prepared once and kept, reads run at once, and
// every write taken under the writer thread's hold, so that one connection at a time writes (the event log's
// batches are written by that thread, src/store/sqlite-writer/).
import {
  CompiledQuery, type DatabaseConnection, type DatabaseIntrospector, type Dialect, type DialectAdapter, type Driver, type Kysely,
  type QueryCompiler, type QueryResult, SelectQueryNode, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler
} from 'kysely'
import type SQLite from 'better-sqlite3'

/** Taken around each write of the main connection: the writer thread finishes what it runs, then waits. */
export interface WriteGate {
  hold: () => Promise<void>
  release: () => void
}

/** Statements kept prepared, by SQL text; the oldest goes past this many. */
const STATEMENT_CACHE = 256

function isRead (query: CompiledQuery): boolean {
  if (SelectQueryNode.is(query.query)) return true
  return query.query.kind === 'RawNode' && /^\s*(select|explain)\b/i.test(query.sql)
}

class Connection implements DatabaseConnection {
  readonly statements = new Map<string, SQLite.Statement>()
  inTransaction = false

  constructor (private readonly db: SQLite.Database, private readonly gate: () => WriteGate | null) {}

  private prepare (sql: string): SQLite.Statement {
    let stmt = this.statements.get(sql)
    if (stmt === undefined) {
      stmt = this.db.prepare(sql)
      if (this.statements.size >= STATEMENT_CACHE) this.statements.delete(this.statements.keys().next().value as string)
      this.statements.set(sql, stmt)
    }
    return stmt
  }

  run<R> (query: CompiledQuery): QueryResult<R> {
    const stmt = this.prepare(query.sql)
    const parameters = query.parameters as unknown[]
    if (stmt.reader) return { rows: stmt.all(parameters) as R[] }
    const { changes, lastInsertRowid } = stmt.run(parameters)
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] }
  }

  async executeQuery<R> (query: CompiledQuery): Promise<QueryResult<R>> {
    const gate = this.gate()
    if (gate === null || this.inTransaction || isRead(query)) return this.run(query)
    await gate.hold()
    try {
      return this.run(query)
    } finally {
      gate.release()
    }
  }

  async * streamQuery<R> (query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(query.query)) throw new Error('only select queries can be streamed')
    for (const row of this.prepare(query.sql).iterate(query.parameters as unknown[])) yield { rows: [row as R] }
  }
}

class GatedDriver implements Driver {
  private readonly connection: Connection
  private lock: Promise<void> | null = null
  private unlock: (() => void) | null = null

  constructor (private readonly db: SQLite.Database, private readonly gate: () => WriteGate | null) {
    this.connection = new Connection(db, gate)
  }

  async init (): Promise<void> {}

  async acquireConnection (): Promise<DatabaseConnection> {
    // one connection: a second user waits for the first (as Kysely's own SQLite driver does)
    while (this.lock !== null) await this.lock
    this.lock = new Promise(resolve => { this.unlock = resolve })
    return this.connection
  }

  async beginTransaction (): Promise<void> {
    const gate = this.gate()
    if (gate !== null) await gate.hold()
    try {
      this.connection.run(CompiledQuery.raw('begin'))
    } catch (err) {
      gate?.release()
      throw err
    }
    this.connection.inTransaction = true
  }

  private end (sql: string): void {
    try {
      this.connection.run(CompiledQuery.raw(sql))
    } finally {
      // a failed commit or rollback still leaves SQLite out of the transaction when autocommit is back on
      if (this.db.inTransaction === false) {
        this.connection.inTransaction = false
        this.gate()?.release()
      }
    }
  }

  async commitTransaction (): Promise<void> { this.end('commit') }
  async rollbackTransaction (): Promise<void> { this.end('rollback') }

  async savepoint (_c: DatabaseConnection, name: string): Promise<void> {
    this.connection.run(CompiledQuery.raw(`savepoint "${name}"`))
  }

  async rollbackToSavepoint (_c: DatabaseConnection, name: string): Promise<void> {
    this.connection.run(CompiledQuery.raw(`rollback to "${name}"`))
  }

  async releaseSavepoint (_c: DatabaseConnection, name: string): Promise<void> {
    this.connection.run(CompiledQuery.raw(`release "${name}"`))
  }

  async releaseConnection (): Promise<void> {
    const unlock = this.unlock
    this.lock = null
    this.unlock = null
    unlock?.()
  }

  async destroy (): Promise<void> {
    this.connection.statements.clear()
    this.db.close()
  }
}

/** The dialect; `gate` is read on each write (null until the writer thread runs: migrations write directly). */
export class GatedSqliteDialect implements Dialect {
  constructor (private readonly db: SQLite.Database, private readonly gate: () => WriteGate | null) {}
  createDriver (): Driver { return new GatedDriver(this.db, this.gate) }
  createQueryCompiler (): QueryCompiler { return new SqliteQueryCompiler() }
  createAdapter (): DialectAdapter { return new SqliteAdapter() }
  createIntrospector (db: Kysely<any>): DatabaseIntrospector { return new SqliteIntrospector(db) }
}
