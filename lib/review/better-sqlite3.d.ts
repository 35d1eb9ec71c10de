// The subset of better-sqlite3 12.x that lib/review uses (the package ships no types and @types/better-sqlite3
// is not installed). Signatures follow https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md.
declare module 'better-sqlite3' {
  export namespace BetterSqlite3 {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }
    interface Statement<Row = unknown> {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): Row | undefined;
      all(...params: unknown[]): Row[];
    }
    /** Calling it runs BEGIN (deferred); the variants run BEGIN IMMEDIATE / EXCLUSIVE. */
    interface Transaction<A extends unknown[], R> {
      (...args: A): R;
      deferred(...args: A): R;
      immediate(...args: A): R;
      exclusive(...args: A): R;
    }
    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      timeout?: number;
    }
    interface Database {
      prepare<Row = unknown>(source: string): Statement<Row>;
      exec(source: string): this;
      pragma(source: string, options?: { simple?: boolean }): unknown;
      transaction<A extends unknown[], R>(fn: (...args: A) => R): Transaction<A, R>;
      close(): this;
      readonly open: boolean;
      readonly name: string;
    }
  }
  interface DatabaseConstructor {
    new (filename: string, options?: BetterSqlite3.Options): BetterSqlite3.Database;
  }
  const Database: DatabaseConstructor;
  export default Database;
}
