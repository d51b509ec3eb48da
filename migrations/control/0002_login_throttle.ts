// Password sign-in throttling state, shared by every app instance (rate-limiter-flexible's
// RateLimiterPostgres, created with `tableCreated: true`, so this is its table). Keys name an
// account by a hash of clinic and e-mail, or a client address; no tenant data is kept here.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // The columns are the ones rate-limiter-flexible reads and writes.
  await db.schema
    .withSchema('control')
    .createTable('login_throttle')
    .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('points', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expire', 'bigint')
    .execute();
  await db.schema.withSchema('control').createIndex('login_throttle_expire_idx').on('login_throttle').column('expire').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').dropTable('login_throttle').execute();
}
