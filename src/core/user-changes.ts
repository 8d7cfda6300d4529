/** What differs between two sets of user records: the reload and `filegate users` both report it. */
import { isDeepStrictEqual } from 'node:util';
import type { UserRecord } from './users.js';

export interface UserChanges {
  added: string[];
  removed: string[];
  /** Changed users with the names of the fields that differ. */
  changed: { username: string; fields: string[] }[];
}

export function diffUsers(before: readonly UserRecord[], after: readonly UserRecord[]): UserChanges {
  const old = new Map(before.map((r) => [r.username, r]));
  const next = new Map(after.map((r) => [r.username, r]));
  const changes: UserChanges = { added: [], removed: [], changed: [] };
  for (const name of old.keys()) if (!next.has(name)) changes.removed.push(name);
  for (const [name, record] of next) {
    const previous = old.get(name);
    if (!previous) {
      changes.added.push(name);
      continue;
    }
    const keys = new Set([...Object.keys(previous), ...Object.keys(record)]) as Set<keyof UserRecord>;
    const fields = [...keys].filter((key) => !isDeepStrictEqual(previous[key], record[key]));
    if (fields.length > 0) changes.changed.push({ username: name, fields });
  }
  return changes;
}
