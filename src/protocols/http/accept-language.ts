/** Picks the refusal language from an Accept-Language header (RFC 9110 §12.5.4). */
import { matchLanguage, type Language } from '../../core/index.js';

const MAX_RANGES = 32;

/** The highest-weighted language range we have texts for; undefined (English) when none. */
export function preferredLanguage(header: string | undefined): Language | undefined {
  if (!header) return undefined;
  const ranges = header
    .split(',')
    .slice(0, MAX_RANGES)
    .map((part, index) => {
      const [tag = '', ...params] = part.split(';').map((p) => p.trim());
      const weight = params.find((p) => /^q=/i.test(p));
      const q = weight === undefined ? 1 : Number(weight.slice(2));
      return { tag, q: Number.isFinite(q) ? q : 0, index };
    })
    .filter((range) => range.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { tag } of ranges) {
    const language = matchLanguage(tag);
    if (language) return language;
  }
  return undefined;
}
