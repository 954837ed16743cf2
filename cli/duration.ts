// Durations on the command line always carry their unit (`90s`, `15m`, `1h30m`, `200ms`): a bare
// number is refused with a hint, never read as seconds when the writer meant minutes.

import { usageError } from './exit.ts';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const BARE = /^\d+(?:\.\d+)?$/;

export interface DurationFlag {
  /** `--ttl`, for messages. */
  name: string;
  /** The unit a bare number most likely meant, suggested in the hint. */
  bareUnit: 's' | 'm';
}

/** Milliseconds of `text`, which must be one or more `<number><unit>` parts and more than zero. */
export function parseDurationMs(text: string, flag: DurationFlag): number {
  const value = text.trim();
  if (BARE.test(value)) {
    const seconds = flag.bareUnit === 's' ? '' : ` (seconds: ${value}s)`;
    throw usageError(
      `${flag.name} needs a unit: "${value}" alone could mean seconds or minutes`,
      `did you mean ${value}${flag.bareUnit}?${seconds}`,
    );
  }
  if (!WHOLE.test(value)) throw usageError(`${flag.name} expects a duration like 90s, 15m, 1h or 1h30m, not "${text}"`);
  let ms = 0;
  for (const [, amount, unit] of value.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  if (!(ms > 0) || !Number.isSafeInteger(Math.round(ms)))
    throw usageError(`${flag.name} must be more than zero and less than forever, not "${text}"`);
  return ms;
}

/** Whole seconds of `text` (a grant's window, a token's lifetime), at least one. */
export function parseDurationSeconds(text: string, flag: DurationFlag): number {
  const ms = parseDurationMs(text, flag);
  if (ms % 1000 !== 0) throw usageError(`${flag.name} is counted in whole seconds, not "${text}"`);
  return ms / 1000;
}
