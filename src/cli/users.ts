// `sidechart users ...`: a clinic's users, for the SRE or the clinic's first admin. Passwords only
// ever come from standard input (never argv, which other users of the machine can read in ps).
import { Option, type Command } from 'commander';
import { checkNewPassword } from '../auth/password/hasher.ts';
import type { Role } from '../auth/tables.ts';
import {
  ROLES, createUser, destroyUserSessions, getUserByEmail, listUsers, setPasswordHash, setUserDisabled, type UserRow,
} from '../auth/users.ts';
import { cliErrors } from './errors.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { clinicScope, report, type CliContext } from './context.ts';

/** The clinic's scoped handle, only for an active clinic. */
async function activeClinic(context: CliContext, slug: string): Promise<{ db: TenantDb; slug: string }> {
  const { tenant, db } = await clinicScope(context, slug, 'users can only be managed on an active clinic');
  return { db, slug: tenant.slug };
}

/** The password piped in, without the newline `echo` or a file adds. */
async function passwordFromStdin(context: CliContext): Promise<string> {
  const password = (await context.io.readStdin()).replace(/\r?\n$/, '');
  const problem = checkNewPassword(password);
  if (problem !== null) throw cliErrors.invalidPassword(problem);
  return password;
}

function publicUser(user: UserRow) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    disabled: user.disabled,
    hasPassword: user.password_hash !== null,
    createdAt: user.created_at,
  };
}

export function registerUserCommands(program: Command, context: CliContext): void {
  const users = program.command('users').description("manage a clinic's users (sign-in accounts)");
  const hasher = async () => (await context.runtime()).passwords;

  users
    .command('create <tenant> <email>')
    .description('create a user; with --password-stdin it can sign in with that password')
    .addOption(new Option('--role <role>', 'what the user may do').choices(ROLES).default('staff'))
    .option('--name <name>', 'display name')
    .option('--password-stdin', `read the password from standard input (at least 10 characters)`)
    .option('--json', 'print JSON')
    .action(async (slug: string, email: string, opts: { role: Role; name?: string; passwordStdin?: boolean; json?: boolean }) => {
      const password = opts.passwordStdin ? await passwordFromStdin(context) : null;
      const clinic = await activeClinic(context, slug);
      const user = await createUser(clinic.db, {
        email,
        role: opts.role,
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        passwordHash: password === null ? null : await (await hasher()).hash(password),
      });
      report(context.io, opts.json, publicUser(user), () =>
        `created ${user.role} ${user.email} in clinic ${clinic.slug}${password === null ? ' (no password: SSO only until one is set with users set-password)' : ' with a password'}`,
      );
    });

  users
    .command('list <tenant>')
    .description("list a clinic's users")
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      const clinic = await activeClinic(context, slug);
      const list = (await listUsers(clinic.db)).map(publicUser);
      report(context.io, opts.json, list, () =>
        list.length === 0
          ? `no users in clinic ${clinic.slug} yet (sidechart users create ${clinic.slug} <email> --role admin --password-stdin)`
          : [
              'EMAIL'.padEnd(36) + 'ROLE'.padEnd(8) + 'STATUS'.padEnd(10) + 'PASSWORD'.padEnd(10) + 'NAME',
              ...list.map((u) => u.email.padEnd(36) + u.role.padEnd(8) + (u.disabled ? 'disabled' : 'active').padEnd(10) + (u.hasPassword ? 'yes' : 'no').padEnd(10) + u.name),
              `${list.length} user(s)`,
            ].join('\n'),
      );
    });

  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    users
      .command(`${verb} <tenant> <email>`)
      .description(disabled ? 'stop a user from signing in, and sign them out everywhere' : 'let a disabled user sign in again')
      .action(async (slug: string, email: string) => {
        const clinic = await activeClinic(context, slug);
        const user = await getUserByEmail(clinic.db, email);
        await setUserDisabled(clinic.db, user.id, disabled);
        const ended = disabled ? await destroyUserSessions(clinic.db, user.id) : 0;
        context.io.out(`${disabled ? 'disabled' : 'enabled'} ${user.email} in clinic ${clinic.slug}${disabled ? ` (${ended} session(s) ended)` : ''}`);
      });
  }

  users
    .command('set-password <tenant> <email>')
    .description("set a user's password from standard input, and sign them out everywhere")
    .requiredOption('--password-stdin', 'read the password from standard input (at least 10 characters)')
    .action(async (slug: string, email: string) => {
      const password = await passwordFromStdin(context);
      const clinic = await activeClinic(context, slug);
      const user = await getUserByEmail(clinic.db, email);
      await setPasswordHash(clinic.db, user.id, await (await hasher()).hash(password));
      const ended = await destroyUserSessions(clinic.db, user.id);
      context.io.out(`password set for ${user.email} in clinic ${clinic.slug} (${ended} session(s) ended)`);
    });
}
