// The field reference of docs/policy.md, written from the policy's JSON Schema (descriptions,
// defaults, examples), so the docs cannot drift from what the loader accepts. Never edit it by hand.

import { stringify } from 'yaml';
import { DURATION_PATTERN } from '../shared/policy/index.ts';

type Schema = { [keyword: string]: unknown };

export const REFERENCE_START =
  '<!-- policy reference: generated from airlock.policy.schema.json by `npm run schema` -->';
export const REFERENCE_END = '<!-- end of the generated policy reference -->';

interface Section {
  path: string;
  description: string;
  schema: Schema;
}

/** One table per object of the policy, in file order, between the two markers. */
export function policyReference(schema: Schema): string {
  const sections: Section[] = [];
  collect({ path: '', description: 'The top level of the file.', schema }, sections);
  const body = sections.map(renderSection).join('\n');
  return `${REFERENCE_START}\n\n${body}\n${REFERENCE_END}`;
}

/** Replaces the reference between the markers of a document; the markers must be there. */
export function withReference(document: string, schema: Schema): string {
  const start = document.indexOf(REFERENCE_START);
  const end = document.indexOf(REFERENCE_END);
  if (start === -1 || end < start) throw new Error('the document has no policy reference markers');
  return document.slice(0, start) + policyReference(schema) + document.slice(end + REFERENCE_END.length);
}

function collect(section: Section, into: Section[]): void {
  into.push(section);
  for (const [name, child] of fields(section.schema)) {
    const path = section.path ? `${section.path}.${name}` : name;
    const object = objectWithin(child);
    if (object)
      collect({ path: object.path(path), description: String(child.description ?? ''), schema: object.schema }, into);
  }
}

/** The object a field holds, directly, as list items or as map values, with the path of its fields. */
function objectWithin(schema: Schema): { schema: Schema; path: (at: string) => string } | undefined {
  if (schema.properties) return { schema, path: (at) => at };
  const items = schema.items as Schema | undefined;
  if (items?.properties) return { schema: items, path: (at) => `${at}[]` };
  const values = schema.additionalProperties as Schema | undefined;
  if (typeof values === 'object' && values.properties) return { schema: values, path: (at) => `${at}.<name>` };
  return undefined;
}

const fields = (schema: Schema) => Object.entries((schema.properties ?? {}) as Record<string, Schema>);

function renderSection(section: Section): string {
  const required = new Set((section.schema.required as string[] | undefined) ?? []);
  const rows = fields(section.schema).map(([name, field]) => {
    const path = section.path ? `${section.path}.${name}` : name;
    const example = (field.examples as unknown[] | undefined)?.[0];
    return [
      `\`${path}\``,
      typeOf(field),
      required.has(name) ? 'required' : 'default' in field ? code(field.default) : 'optional',
      String(field.description ?? ''),
      example === undefined ? '' : code(example),
    ].map(cell);
  });
  return [
    `### ${section.path ? `\`${section.path}\`` : 'Top level'}`,
    '',
    section.description,
    '',
    '| field | type | default | description | example |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
  ].join('\n');
}

function typeOf(schema: Schema): string {
  const anyOf = schema.anyOf as Schema[] | undefined;
  if (anyOf?.some((branch) => branch.pattern === DURATION_PATTERN)) return 'duration';
  if (anyOf) return anyOf.map(typeOf).join(' or ');
  if ('const' in schema) return code(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map(code).join(', ');
  switch (schema.type) {
    case 'array':
      return `list of ${typeOf((schema.items ?? {}) as Schema)}`;
    case 'object':
      return schema.properties ? 'object' : `map of name → ${typeOf((schema.additionalProperties ?? {}) as Schema)}`;
    case 'string':
      return schema.format === 'uri' ? 'URL' : 'string';
    case 'integer': {
      const { minimum, maximum } = schema as { minimum?: number; maximum?: number };
      const bounded = maximum !== undefined && maximum < Number.MAX_SAFE_INTEGER;
      return minimum === undefined ? 'integer' : bounded ? `integer ${minimum}–${maximum}` : `integer ≥ ${minimum}`;
    }
    default:
      return String(schema.type ?? 'any');
  }
}

/** A value as inline YAML in code quotes. */
function code(value: unknown): string {
  const yaml = stringify(value, { collectionStyle: 'flow', flowCollectionPadding: false, lineWidth: 0 }).trim();
  return `\`${yaml}\``;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

/** Markdown tables without their padding, so a formatted document compares equal to the generated one. */
export function unpadTables(markdown: string): string {
  return markdown
    .split('\n')
    .map((line) => {
      if (!line.startsWith('|')) return line;
      const cells = line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((text) => text.trim())
        .map((text) => (/^-+$/.test(text) ? '---' : text));
      return `| ${cells.join(' | ')} |`;
    })
    .join('\n');
}
