// How deep a statement's parse tree could get, bounded from the real scanner's tokens before the parser runs:
// libpg-query's WASM recurses per tree level, and a stack overflow there leaves it corrupted for the process.
// Must never let a statement through to the parser whose bound is over budget; it may refuse harmless ones.

import { AirlockError } from '../errors.ts';
import { scanSync } from './engine.ts';

/**
 * Statements this short cannot overflow the parser: the shallowest overflow found takes about 2,000
 * characters (700 nested `f(` calls); fingerprint and normalize overflow from ~1,750 chained operators.
 */
export const ALWAYS_SIMPLE_CHARS = 1000;
/** Cost units a statement may reach; about a quarter of what overflowed on a 984 KB native stack. */
export const COMPLEXITY_BUDGET = 800;
/** A parenthesis, bracket or CASE … END level. */
const LEVEL_COST = 5;
/** An operator or keyword in a chain: each may wrap everything before it in its segment (left-deep trees). */
const OPERATOR_COST = 2;

// Token numbers of PostgreSQL 18's scanner (gram.h): operands add no level to the tree.
const IDENT = 258;
const UIDENT = 259;
const PARAM = 267;
const CONSTANTS: ReadonlySet<number> = new Set([260, 261, 262, 263, 264, 266]);
const OPEN: ReadonlySet<string> = new Set(['(', '[']);
const CLOSE: Readonly<Record<string, string>> = { ')': '(', ']': '[' };
/** Siblings, not nesting: AND/OR chains are flattened by the parser, CASE branches are a list. */
const SEPARATORS: ReadonlySet<string> = new Set([',', 'AND', 'OR', 'WHEN', 'THEN', 'ELSE']);
const NEUTRAL: ReadonlySet<string> = new Set(['.', ':']);
/** Keywords that are values, not operators. */
const VALUE_KEYWORDS: ReadonlySet<string> = new Set(['TRUE', 'FALSE', 'NULL', 'DEFAULT']);
/** Operator keywords the scanner does not class as reserved (`BETWEEN`, `AT TIME ZONE`). */
const OPERATOR_KEYWORDS: ReadonlySet<string> = new Set(['BETWEEN', 'AT']);
const RESERVED = 4;
const TYPE_FUNC_NAME = 3;

interface Token {
  text: string;
  tokenType: number;
  keywordKind: number;
}

type Step =
  | { kind: 'open'; opener: string }
  | { kind: 'close'; opener: string }
  | { kind: 'separator' }
  | { kind: 'end' }
  | { kind: 'operator' }
  | { kind: 'operand' };

function stepOf(token: Token): Step {
  const word = token.keywordKind !== 0 ? token.text.toUpperCase() : token.text;
  if (OPEN.has(word)) return { kind: 'open', opener: word };
  if (CLOSE[word]) return { kind: 'close', opener: CLOSE[word] };
  if (word === 'CASE' && token.keywordKind !== 0) return { kind: 'open', opener: 'CASE' };
  if (word === 'END' && token.keywordKind !== 0) return { kind: 'close', opener: 'CASE' };
  if (word === ';') return { kind: 'end' };
  if (SEPARATORS.has(word) && (word === ',' || token.keywordKind !== 0)) return { kind: 'separator' };
  if (token.keywordKind !== 0) {
    // Reserved and type/function-name keywords build the tree (NOT, IS, LIKE, IN, JOIN, UNION …); the
    // others are names (`int`, `text`) and add no level.
    const builds =
      (token.keywordKind === RESERVED || token.keywordKind === TYPE_FUNC_NAME) && !VALUE_KEYWORDS.has(word);
    return builds || OPERATOR_KEYWORDS.has(word) ? { kind: 'operator' } : { kind: 'operand' };
  }
  if (
    token.tokenType === IDENT ||
    token.tokenType === UIDENT ||
    token.tokenType === PARAM ||
    CONSTANTS.has(token.tokenType) ||
    NEUTRAL.has(word)
  )
    return { kind: 'operand' };
  return { kind: 'operator' };
}

/**
 * An upper bound, in cost units, of the deepest path of the statement's tree: along every path, each
 * enclosing level costs LEVEL_COST plus OPERATOR_COST per operator of the segment it sits in (all of
 * them, those after it included, as a left-deep chain wraps what came before), plus the innermost segment.
 */
export function complexityOf(tokens: readonly Token[]): number {
  const steps = tokens.map(stepOf);
  // Pass 1: the operators of every segment (the tokens between separators, at one level).
  const segmentOf: number[] = [];
  const operators: number[] = [0];
  let stack: Array<{ opener: string; segment: number }> = [];
  let segment = 0;
  const fresh = () => operators.push(0) - 1;
  for (const step of steps) {
    if (step.kind === 'open') {
      segmentOf.push(segment);
      stack.push({ opener: step.opener, segment });
      segment = fresh();
      continue;
    }
    if (step.kind === 'close' && stack.at(-1)?.opener === step.opener) {
      segment = stack.pop()!.segment;
    } else if (step.kind === 'separator') segment = fresh();
    else if (step.kind === 'end') {
      stack = [];
      segment = fresh();
    } else if (step.kind === 'operator' || step.kind === 'close') operators[segment]!++;
    segmentOf.push(segment);
  }
  // Pass 2: the cost along the path to every token.
  let worst = 0;
  let above = 0;
  const entered: Array<{ opener: string; above: number }> = [];
  for (const [index, step] of steps.entries()) {
    const own = segmentOf[index]!;
    // A closing token belongs to the segment it returns to, an opening one to the segment it leaves.
    if (step.kind === 'close' && entered.at(-1)?.opener === step.opener) above = entered.pop()!.above;
    else if (step.kind === 'end') {
      entered.length = 0;
      above = 0;
    }
    worst = Math.max(worst, above + OPERATOR_COST * operators[own]!);
    if (step.kind === 'open') {
      entered.push({ opener: step.opener, above });
      above += LEVEL_COST + OPERATOR_COST * operators[own]!;
    }
  }
  return worst;
}

/** Refuses, before the parser sees it, SQL whose tree could be too deep for it. Call after the module loaded. */
export function checkComplexity(sql: string): void {
  if (sql.length <= ALWAYS_SIMPLE_CHARS) return;
  let tokens: Token[];
  try {
    tokens = scanSync(sql).tokens;
  } catch {
    return; // the scanner refuses what the parser will refuse too, with its position
  }
  const cost = complexityOf(tokens);
  if (cost > COMPLEXITY_BUDGET)
    throw new AirlockError(
      'statement_too_complex',
      `the statement nests too deeply or chains too many operators to be checked safely (cost ${cost}, at most ${COMPLEXITY_BUDGET}): split it up, or use a list (IN (…), VALUES, ARRAY[…]) instead of a chain`,
      { cost, budget: COMPLEXITY_BUDGET },
    );
}
