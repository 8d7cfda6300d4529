/**
 * The Session resource, as the Files.com API and SDK define it. The policy flags are frozen when
 * the session is created; `toJSON()` emits exactly the seed's snake_case field names.
 */
export interface SessionFields {
  id: string;
  language: string;
  login_token: string;
  login_token_domain: string;
  max_dir_listing_size: number;
  multiple_regions: boolean;
  read_only: boolean;
  root_path: string;
  sftp_insecure_ciphers: boolean;
  site_id: number;
  ssl_required: boolean;
  tls_disabled: boolean;
  two_factor_setup_needed: boolean;
  allowed_2fa_method_sms: boolean;
  allowed_2fa_method_totp: boolean;
  allowed_2fa_method_u2f: boolean;
  allowed_2fa_method_yubi: boolean;
  use_provided_modified_at: boolean;
  windows_mode_ftp: boolean;
}

/** The seed's field names, in the seed's order: the JSON contract. */
export const SESSION_FIELD_NAMES = [
  'id',
  'language',
  'login_token',
  'login_token_domain',
  'max_dir_listing_size',
  'multiple_regions',
  'read_only',
  'root_path',
  'sftp_insecure_ciphers',
  'site_id',
  'ssl_required',
  'tls_disabled',
  'two_factor_setup_needed',
  'allowed_2fa_method_sms',
  'allowed_2fa_method_totp',
  'allowed_2fa_method_u2f',
  'allowed_2fa_method_yubi',
  'use_provided_modified_at',
  'windows_mode_ftp',
] as const satisfies readonly (keyof SessionFields)[];

import { createHash } from 'node:crypto';

export type Protocol = 'sftp' | 'ftp' | 'http' | 'library';

/** Who logged in, from where, over what: kept beside the seed fields, never serialised. */
export interface SessionOrigin {
  username: string;
  protocol: Protocol;
  remoteAddress: string;
  createdAt: Date;
}

/** The non-secret handle of a session id: what logs and the admin API show instead of the id. */
export function sessionRef(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 12);
}

export class Session implements Readonly<SessionFields> {
  readonly id!: string;
  readonly language!: string;
  readonly login_token!: string;
  readonly login_token_domain!: string;
  readonly max_dir_listing_size!: number;
  readonly multiple_regions!: boolean;
  readonly read_only!: boolean;
  readonly root_path!: string;
  readonly sftp_insecure_ciphers!: boolean;
  readonly site_id!: number;
  readonly ssl_required!: boolean;
  readonly tls_disabled!: boolean;
  readonly two_factor_setup_needed!: boolean;
  readonly allowed_2fa_method_sms!: boolean;
  readonly allowed_2fa_method_totp!: boolean;
  readonly allowed_2fa_method_u2f!: boolean;
  readonly allowed_2fa_method_yubi!: boolean;
  readonly use_provided_modified_at!: boolean;
  readonly windows_mode_ftp!: boolean;
  readonly origin: Readonly<SessionOrigin>;
  /** A non-secret handle for logs (the id itself is a bearer credential and is never logged). */
  readonly ref: string;

  constructor(fields: SessionFields, origin: SessionOrigin) {
    for (const name of SESSION_FIELD_NAMES) (this as Record<string, unknown>)[name] = fields[name];
    this.origin = Object.freeze({ ...origin });
    this.ref = sessionRef(fields.id);
    Object.freeze(this);
  }

  get username(): string {
    return this.origin.username;
  }

  toJSON(): SessionFields {
    const out = {} as Record<string, unknown>;
    for (const name of SESSION_FIELD_NAMES) out[name] = this[name];
    return out as unknown as SessionFields;
  }
}
