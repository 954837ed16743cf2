// The bound parameters of a held statement as approvers see them: shown as sent where they only meet unmasked
// columns (content detectors still run), masked with the column's strategy where they meet a masked one, and
// redacted where their column cannot be told. Must never show a value that reaches a masked column.

import { cellText, createDetectorScan, maskEmail, maskLast4, REDACTED } from '../masking/index.ts';
import type { MaskStrategy, Policy } from '../policy/index.ts';
import { type ParameterUse, parameterUses } from '../sql/index.ts';
import type { HeldStatementView } from './model.ts';

/** Characters of one shown parameter; the approval binds the whole value (paramsHash) either way. */
const SHOWN_CHARS = 200;

type ShownParameter = HeldStatementView['params'][number];

/** What approvers see for a strategy: hashes and nulls tell a person nothing, so they read as redacted. */
function maskFor(strategy: MaskStrategy, value: unknown): string {
  const text = cellText(value);
  if (text === null) return 'null';
  if (strategy === 'email') return maskEmail(text);
  if (strategy === 'last4') return maskLast4(text);
  return REDACTED;
}

const clip = (text: string) => (text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text);

/** The strategies of the masked columns a use reaches; undefined when the use's column cannot be told. */
function strategiesOf(use: ParameterUse, masking: Policy['masking']): MaskStrategy[] | undefined {
  if (use.kind === 'undecided') return undefined;
  if (use.kind === 'count') return [];
  return masking.columns
    .filter(({ column }) => {
      const [schema, table, name] = column.split('.');
      return (
        name === use.name &&
        use.relations.some((relation) => relation.name === table && (relation.schema ?? schema) === schema)
      );
    })
    .map(({ strategy }) => strategy);
}

/**
 * Each parameter of `sql` (which has parsed) as shown to approvers. A parameter used in several places is
 * masked if any place is masked or undecided; two different strategies give `[REDACTED]`.
 */
export function shownParameters(sql: string, params: readonly unknown[], masking: Policy['masking']): ShownParameter[] {
  if (params.length === 0) return [];
  let uses: Map<number, ParameterUse[]>;
  try {
    uses = parameterUses(sql);
  } catch {
    uses = new Map(); // the tree cannot be read again: every parameter is undecided, so redacted
  }
  const scan = createDetectorScan(masking.detectors);
  return params.map((value, index) => {
    const position = index + 1;
    const found = uses.get(position) ?? [{ kind: 'undecided' as const }];
    const strategies = found.map((use) => strategiesOf(use, masking));
    if (strategies.some((list) => list === undefined)) return { position, shown: REDACTED, masked: 'undecided' };
    const distinct = [...new Set(strategies.flat())];
    if (distinct.length === 1) return { position, shown: clip(maskFor(distinct[0]!, value)), masked: distinct[0]! };
    if (distinct.length > 1) return { position, shown: REDACTED, masked: 'redact' };
    const shown = JSON.stringify(value) ?? 'null';
    const scanned = scan(shown);
    return scanned === shown
      ? { position, shown: clip(shown), masked: null }
      : { position, shown: clip(scanned), masked: 'detectors' };
  });
}
