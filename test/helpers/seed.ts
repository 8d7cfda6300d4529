/**
 * The Session object's field names exactly as the Files.com Session resource lists them (the
 * seed), kept here independently of src/core/session.ts so that drift between the two fails a test.
 */
export const SEED_FIELDS = [
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
];
