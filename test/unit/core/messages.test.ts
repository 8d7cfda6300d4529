/** The message catalog: every key translated in every shipped language, placeholders kept, fallback. */
import { describe, expect, it } from 'vitest';
import { LANGUAGES, matchLanguage, translate, type MessageKey } from '../../../src/core/index.js';

/** Every catalog key: `Record<MessageKey, true>` makes tsc fail when a key is added or removed. */
const KEYS = Object.keys({
  not_found: true,
  permission_denied: true,
  read_only: true,
  already_exists: true,
  not_empty: true,
  not_a_directory: true,
  is_a_directory: true,
  bad_path: true,
  unsupported: true,
  size_in_ascii: true,
  no_space: true,
  transfer_aborted: true,
  auth_failed: true,
  code_required: true,
  code_required_appended: true,
  code_incorrect: true,
  partial_session_invalid: true,
  locked_out: true,
  rate_limited: true,
  setup_2fa_required: true,
  tls_required: true,
  protected_data_required: true,
  tls_required_server: true,
  weak_tls: true,
  weak_ssh: true,
  session_ended: true,
  shutting_down: true,
  unavailable: true,
  internal: true,
  sftp_only: true,
  limit_reached: true,
} satisfies Record<MessageKey, true>) as MessageKey[];

const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();

describe('message catalog', () => {
  it.each(LANGUAGES.filter((l) => l !== 'en'))('translates every key into %s, keeping the placeholders', (language) => {
    for (const key of KEYS) {
      const english = translate('en', key);
      const translated = translate(language, key);
      expect(translated, `${language}.${key}`).toMatch(/\S/);
      expect(translated, `${language}.${key} is still English`).not.toBe(english);
      expect(placeholders(translated), `${language}.${key}`).toEqual(placeholders(english));
    }
  });

  it('fills in parameters', () => {
    expect(translate('en', 'locked_out', { minutes: 7 })).toBe('Too many failed logins. Try again in 7 minutes.');
    expect(translate('de', 'weak_tls', { version: 'TLSv1' })).toContain('TLSv1');
    expect(translate('fr', 'setup_2fa_required', { methods: 'totp, sms' })).toContain('totp, sms');
  });

  it('falls back to English for unknown or missing languages', () => {
    for (const language of ['xx', 'pt-BR', '', undefined, 'e']) {
      expect(translate(language, 'auth_failed'), String(language)).toBe('Login incorrect.');
    }
  });

  it('matches language tags by their primary subtag', () => {
    expect(matchLanguage('de-AT')).toBe('de');
    expect(matchLanguage('FR_ca')).toBe('fr');
    expect(matchLanguage(' es ')).toBe('es');
    expect(matchLanguage('deu')).toBeUndefined();
    expect(translate('es-MX', 'auth_failed')).toBe(translate('es', 'auth_failed'));
  });
});
