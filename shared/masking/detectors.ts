// Content detectors: the last net that masks emails, card numbers, SSNs, … found inside any text value.
// Must never be the main mechanism (origin and lineage are) and must never throw on odd input.

import type { Detector } from '../policy/index.ts';
import { maskEmail, maskLast4, REDACTED } from './strategies.ts';

/** Rewrites every detected value inside `text`; returns `text` itself when nothing was found. */
export type DetectorScan = (text: string) => string;

interface TextFacts {
  /** Longest run of digits in which only ` -.()+` may sit between them: a bound for every digit pattern. */
  run: number;
  at: boolean;
  plus: boolean;
  dots: number;
  upper: number;
}

interface DetectorRule {
  /** Cheap test on counted characters; the regex runs only when it passes. */
  worthTrying(facts: TextFacts): boolean;
  pattern: RegExp;
  replace(match: string): string;
}

const EMAIL =
  /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]{1,64}@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.){1,8}\p{L}{2,63}(?![\p{L}\p{N}@-])/gu;
// 13–19 digits, optionally split by single spaces or dashes; a longer unbroken run is not a card.
// A match may include neighbouring numbers (`4242… 12/25`): maskCards looks for the card inside it.
const CARD = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g;
// Dashed form only: a bare 9-digit run (zip+4, order ids, routing numbers) has no checksum to tell it apart.
const SSN = /(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)/g;
// E.164 (+ and 8–15 digits) or NANP with separators: (415) 555-2671, 415-555-2671, +1 415.555.2671.
const PHONE =
  /(?:\+[1-9]\d{7,14}|(?:\+1[ .-]?|(?<![\w+])(?:1[ .-]?)?)(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4})(?!\d)/g;
const IPV4 = /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)/g;
// Compact, or printed in groups of four; mod-97 and the country code decide.
const IBAN =
  /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?![A-Za-z0-9])/g;

const IBAN_COUNTRIES = new Set(
  (
    'AD AE AL AO AT AZ BA BE BF BG BH BI BJ BR BY CF CG CH CI CM CR CV CY CZ DE DJ DK DO DZ EE EG ES FI FK FO FR ' +
    'GA GB GE GI GL GQ GR GT GW HN HR HU IE IL IQ IR IS IT JO KM KW KZ LB LC LI LT LU LV LY MA MC MD ME MG MK ML ' +
    'MN MR MT MU MZ NE NI NL NO OM PK PL PS PT QA RO RS RU SA SC SD SE SI SK SM SN SO ST SV TD TG TL TN TR UA VA ' +
    'VG XK YE'
  ).split(' '),
);

const RULES: Record<Detector, DetectorRule> = {
  email: {
    worthTrying: (facts) => facts.at,
    pattern: EMAIL,
    replace: maskEmail,
  },
  credit_card: {
    worthTrying: (facts) => facts.run >= 13,
    pattern: CARD,
    replace: maskCards,
  },
  us_ssn: {
    worthTrying: (facts) => facts.run >= 9,
    pattern: SSN,
    replace: () => REDACTED,
  },
  phone: {
    worthTrying: (facts) => facts.run >= 10 || (facts.plus && facts.run >= 8),
    pattern: PHONE,
    replace: () => REDACTED,
  },
  iban: {
    worthTrying: (facts) => facts.upper >= 2 && facts.run >= 2,
    pattern: IBAN,
    replace: maskIban,
  },
  ipv4: {
    worthTrying: (facts) => facts.run >= 4 && facts.dots >= 3,
    pattern: IPV4,
    replace: () => REDACTED,
  },
};

// Longer digit patterns first, so a phone or SSN rule never takes a bite out of a card number or IBAN.
const ORDER: readonly Detector[] = ['iban', 'credit_card', 'us_ssn', 'phone', 'ipv4', 'email'];
// No detector can match fewer characters than the shortest email, `a@b.co`.
const SHORTEST_HIT = 6;

const scanners = new Map<string, DetectorScan>();

/** One scan function for a set of detectors (compiled once per set). */
export function createDetectorScan(detectors: readonly Detector[]): DetectorScan {
  const rules = ORDER.filter((name) => detectors.includes(name));
  const key = rules.join(',');
  const cached = scanners.get(key);
  if (cached) return cached;
  const scan = buildScan(rules.map((name) => RULES[name]));
  scanners.set(key, scan);
  return scan;
}

// A value masked by one detector can uncover a neighbour another one missed (`10.0.0.1+14155552671`),
// so a text that changed is scanned again, a bounded number of times.
const MAX_PASSES = 4;

function buildScan(rules: DetectorRule[]): DetectorScan {
  if (rules.length === 0) return (text) => text;
  const pass = (text: string): string => {
    if (text.length < SHORTEST_HIT) return text;
    const facts = countFacts(text);
    if (facts.run === 0 && !facts.at) return text;
    let result = text;
    for (const rule of rules) {
      if (rule.worthTrying(facts)) result = result.replace(rule.pattern, rule.replace);
    }
    return result;
  };
  return (text) => {
    let before = text;
    let after = pass(text);
    for (let passes = 1; passes < MAX_PASSES && after !== before; passes++) {
      before = after;
      after = pass(after);
    }
    return after;
  };
}

function countFacts(text: string): TextFacts {
  const facts: TextFacts = { run: 0, at: false, plus: false, dots: 0, upper: 0 };
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      run++;
      if (run > facts.run) facts.run = run;
      continue;
    }
    if (code === 64) facts.at = true;
    else if (code === 43) facts.plus = true;
    else if (code === 46) facts.dots++;
    else if (code >= 65 && code <= 90) facts.upper++;
    // space ( ) + - . may separate the digits of one number; anything else ends the run
    if (code !== 32 && code !== 40 && code !== 41 && code !== 43 && code !== 45 && code !== 46) run = 0;
  }
  return facts;
}

/**
 * Masks detected values inside a cell: strings and numbers are scanned, JSON values (arrays,
 * objects from json columns) are walked so that their keys and leaves are scanned and their shape
 * kept. Returns `value` itself when nothing was found.
 */
export function maskDetected(value: unknown, scan: DetectorScan): unknown {
  return walk(value, scan, 0);
}

// Deeper JSON than this is scanned as text: the result is a string, never an unscanned leaf.
const MAX_DEPTH = 64;

function walk(value: unknown, scan: DetectorScan, depth: number): unknown {
  if (typeof value === 'string') return scan(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    const text = String(value);
    const masked = scan(text);
    return masked === text ? value : masked;
  }
  if (value === null || typeof value !== 'object' || value instanceof Date || value instanceof Uint8Array) return value;
  if (depth >= MAX_DEPTH) {
    const text =
      JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner)) ?? '';
    const masked = scan(text);
    return masked === text ? value : masked;
  }
  if (Array.isArray(value)) {
    let changed = false;
    const items = value.map((item: unknown) => {
      const masked = walk(item, scan, depth + 1);
      if (masked !== item) changed = true;
      return masked;
    });
    return changed ? items : value;
  }
  let changed = false;
  const entries = Object.entries(value).map(([key, item]): [string, unknown] => {
    const maskedKey = scan(key);
    const masked = walk(item, scan, depth + 1);
    if (maskedKey !== key || masked !== item) changed = true;
    return [maskedKey, masked];
  });
  return changed ? Object.fromEntries(entries) : value;
}

/** Luhn checksum over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let digit = digits.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return false;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616 check: known country, 15–34 characters, mod 97 of the rearranged number is 1. */
export function ibanValid(candidate: string): boolean {
  const iban = candidate.replace(/ /g, '');
  if (iban.length < 15 || iban.length > 34 || !IBAN_COUNTRIES.has(iban.slice(0, 2))) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const char of rearranged) {
    const code = char.charCodeAt(0);
    if (code >= 48 && code <= 57) remainder = (remainder * 10 + (code - 48)) % 97;
    else if (code >= 65 && code <= 90) remainder = (remainder * 100 + (code - 55)) % 97;
    else return false;
  }
  return remainder === 1;
}

/**
 * Masks the Luhn-valid run of whole groups in a CARD match (longest first, from the left), and
 * then looks again in what follows it. Separators are dropped so exactly the last four digits show.
 */
function maskCards(match: string): string {
  const groups: Array<{ start: number; end: number }> = [];
  for (const found of match.matchAll(/\d+/g)) groups.push({ start: found.index, end: found.index + found[0].length });
  for (let first = 0; first < groups.length; first++) {
    const windows: Array<{ last: number; digits: string }> = [];
    let digits = '';
    for (let last = first; last < groups.length; last++) {
      const group = groups[last];
      if (!group) break;
      digits += match.slice(group.start, group.end);
      if (digits.length > 19) break;
      if (digits.length >= 13) windows.push({ last, digits });
    }
    for (const window of windows.reverse()) {
      const start = groups[first]?.start ?? 0;
      const end = groups[window.last]?.end ?? match.length;
      if (luhnValid(window.digits))
        return match.slice(0, start) + maskLast4(window.digits) + maskCards(match.slice(end));
    }
  }
  return match;
}

// A grouped IBAN may be followed by an unrelated four-character word; retry without trailing groups.
function maskIban(match: string): string {
  let candidate = match;
  for (;;) {
    if (ibanValid(candidate)) return maskLast4(candidate.replace(/ /g, '')) + match.slice(candidate.length);
    const space = candidate.lastIndexOf(' ');
    if (space < 0) return match;
    candidate = candidate.slice(0, space);
  }
}
