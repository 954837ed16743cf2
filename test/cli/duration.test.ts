import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseDurationSeconds } from '../../cli/duration.ts';
import { CliError, EXIT } from '../../cli/exit.ts';

const ttl = { name: '--ttl', bareUnit: 'm' } as const;
const interval = { name: '--interval', bareUnit: 's' } as const;

function refusal(run: () => unknown): CliError {
  try {
    run();
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
  throw new Error('expected a usage error');
}

describe('durations on the command line', () => {
  it.each([
    ['15s', 15_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['200ms', 200],
    ['0.2s', 200],
    [' 10m ', 600_000],
  ])('reads %s', (text, ms) => {
    expect(parseDurationMs(text, ttl)).toBe(ms);
  });

  it('refuses a bare number, and says what was probably meant', () => {
    const minutes = refusal(() => parseDurationMs('15', ttl));
    expect(minutes.exitCode).toBe(EXIT.usage);
    expect(minutes.message).toBe('--ttl needs a unit: "15" alone could mean seconds or minutes');
    expect(minutes.hint).toBe('did you mean 15m? (seconds: 15s)');
    expect(refusal(() => parseDurationMs('2', interval)).hint).toBe('did you mean 2s?');
    expect(refusal(() => parseDurationMs('0.2', interval)).hint).toBe('did you mean 0.2s?');
  });

  it.each(['', 'm', '15 m', '15x', '-5m', '+5m', '1e3s', '15M', 'm15', '1h 30m', '5min', 'Infinitys'])(
    'refuses "%s" with a usage error',
    (text) => {
      const error = refusal(() => parseDurationMs(text, ttl));
      expect(error.exitCode).toBe(EXIT.usage);
      expect(error.message).toMatch(/^--ttl /);
    },
  );

  it.each(['0s', '0m', '0ms', '0h0m'])('refuses the empty duration %s', (text) => {
    expect(refusal(() => parseDurationMs(text, ttl)).message).toMatch(/must be more than zero/);
  });

  it('refuses a duration too large to count', () => {
    expect(refusal(() => parseDurationMs(`${'9'.repeat(30)}d`, ttl)).message).toMatch(/less than forever/);
  });

  it('counts windows and token lifetimes in whole seconds', () => {
    expect(parseDurationSeconds('90s', ttl)).toBe(90);
    expect(parseDurationSeconds('1h30m', ttl)).toBe(5400);
    expect(refusal(() => parseDurationSeconds('1500ms', ttl)).message).toBe(
      '--ttl is counted in whole seconds, not "1500ms"',
    );
  });
});
