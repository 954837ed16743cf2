// The route reference of docs/api.md, written from the OpenAPI document the app serves (/openapi.json), so the
// docs cannot drift from the routes. Never edit the generated part by hand: `npm run docs:api` rewrites it.

type Json = { [key: string]: unknown };

export const API_REFERENCE_START = '<!-- api reference: generated from /openapi.json by `npm run docs:api` -->';
export const API_REFERENCE_END = '<!-- end of the generated API reference -->';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** One table per tag, in the document's tag order: route, what it does, the token it takes, what it answers. */
export function apiReference(document: Json): string {
  const paths = (document.paths ?? {}) as Record<string, Record<string, Json>>;
  const tags = ((document.tags ?? []) as Array<{ name: string; description?: string }>).map((tag) => ({ ...tag }));
  const operations = Object.entries(paths).flatMap(([path, methods]) =>
    METHODS.filter((method) => methods[method]).map((method) => ({ path, method, op: methods[method]! })),
  );
  for (const { op } of operations) {
    const first = ((op.tags ?? []) as string[])[0] ?? 'other';
    if (!tags.some((tag) => tag.name === first)) tags.push({ name: first });
  }
  const sections = tags.flatMap((tag) => {
    const own = operations.filter(({ op }) => (((op.tags ?? []) as string[])[0] ?? 'other') === tag.name);
    if (own.length === 0) return [];
    const rows = own.map(({ path, method, op }) => {
      const responses = Object.keys((op.responses ?? {}) as Json);
      const ok = responses.filter((status) => Number(status) < 400);
      const errors = responses.filter((status) => Number(status) >= 400);
      const body = bodySchema(op);
      return `| \`${method.toUpperCase()} ${path}\` | ${cell(String(op.summary ?? ''))}${body ? ` (body \`${body}\`)` : ''} | ${tokenOf(op)} | ${ok.join(', ')}${errors.length ? `; errors ${errors.join(', ')}` : ''} |`;
    });
    return [
      `### ${tag.name}`,
      '',
      ...(tag.description ? [tag.description, ''] : []),
      '| Route | What it does | Token | Answers |',
      '| --- | --- | --- | --- |',
      ...rows,
      '',
    ];
  });
  const schemas = Object.keys(((document.components as Json | undefined)?.schemas ?? {}) as Json).sort();
  return [
    API_REFERENCE_START,
    '',
    ...sections,
    `Schemas (in \`/openapi.json\` under \`components.schemas\`): ${schemas.map((name) => `\`${name}\``).join(', ')}.`,
    '',
    API_REFERENCE_END,
  ].join('\n');
}

/** Replaces the reference between the markers of a document; the markers must be there. */
export function withApiReference(markdown: string, document: Json): string {
  const start = markdown.indexOf(API_REFERENCE_START);
  const end = markdown.indexOf(API_REFERENCE_END);
  if (start === -1 || end < start) throw new Error('the document has no API reference markers');
  return markdown.slice(0, start) + apiReference(document) + markdown.slice(end + API_REFERENCE_END.length);
}

function tokenOf(op: Json): string {
  const names = ((op.security ?? []) as Json[]).flatMap((requirement) => Object.keys(requirement));
  if (names.length === 0) return 'none';
  return names.map((name) => (name === 'grantToken' ? 'grant token' : 'identity token')).join(' or ');
}

function bodySchema(op: Json): string | undefined {
  const content = ((op.requestBody as Json | undefined)?.content ?? {}) as Record<string, Json>;
  const schema = (Object.values(content)[0]?.schema ?? {}) as Json;
  const ref = typeof schema.$ref === 'string' ? schema.$ref.split('/').at(-1) : undefined;
  return ref ?? (Object.keys(content).length > 0 ? 'JSON' : undefined);
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
