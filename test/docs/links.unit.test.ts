// The README and docs/ are all a user needs: every relative link resolves to a file in the repository, and a link
// that leaves it goes to public documentation only (never to design notes outside the repository).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PAGES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];
/** Public documentation a page may point to. */
const PUBLIC = [
  'schema.ocsf.io',
  'getpino.io',
  'modelcontextprotocol.io',
  'datatracker.ietf.org',
  'www.postgresql.org',
  'docs.aws.amazon.com',
  'sst.dev',
  'neon.tech',
];

function linksOf(page: string): string[] {
  const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
}

describe('documentation links', () => {
  it.each(PAGES)('%s links only to files that exist and to public documentation', (page) => {
    const broken: string[] = [];
    for (const link of linksOf(page)) {
      if (/^https?:\/\//.test(link)) {
        if (!PUBLIC.includes(new URL(link).host)) broken.push(`${link}: not public documentation`);
        continue;
      }
      if (link.startsWith('#') || link.startsWith('mailto:')) continue;
      const target = resolve(dirname(join(ROOT, page)), link.split('#')[0]!);
      if (!target.startsWith(ROOT)) broken.push(`${link}: outside the repository`);
      else if (!existsSync(target)) broken.push(`${link}: no such file`);
    }
    expect(broken).toEqual([]);
  });

  it('finds the links it checks (the README links to docs/)', () => {
    expect(linksOf('README.md').filter((link) => link.startsWith('docs/')).length).toBeGreaterThan(10);
  });
});
