// Durations in the policy and the API: whole seconds, or a number with a unit (`30s`, `15m`, `1h`, `7d`).
// Never accepts fractions, signs or bare strings: a typo must fail validation, not become zero.

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const DURATION = /^(\d{1,7})(s|m|h|d)$/;

/** The text parseDuration accepts, as a JSON Schema pattern: up to 9 digits, or 7 digits and a unit; never zero. */
export const DURATION_PATTERN = '^(?=\\d*[1-9])(?:\\d{1,9}|\\d{1,7}[smhd])$';

/** Seconds for `30m`, `"90"` or `90`; `undefined` when it is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  // Safe integers only: 1e308 is an integer too, but no date or audit record can carry it.
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^\d{1,9}$/.test(value)) return Number(value) > 0 ? Number(value) : undefined;
  const match = DURATION.exec(value);
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  return seconds > 0 ? seconds : undefined;
}
