// Grant tokens the CLI keeps between commands, per Airlock base URL, in one file readable by its
// owner only (0600 in a 0700 directory). Must never write a token anywhere else or print one.

import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface StoredGrant {
  id: string;
  token: string;
  connection: string;
  access: string;
  expiresAt: string;
  storedAt: string;
}

interface StoreFile {
  version: 1;
  urls: Record<string, StoredGrant[]>;
}

export interface GrantTokenStore {
  path: string;
  list(baseUrl: string): Promise<StoredGrant[]>;
  /** The grant by id, or else the newest one whose window is still open. */
  pick(baseUrl: string, id?: string): Promise<StoredGrant | undefined>;
  put(baseUrl: string, grant: Omit<StoredGrant, 'storedAt'>): Promise<void>;
  remove(baseUrl: string, id: string): Promise<void>;
}

export function configDir(env: Record<string, string | undefined>): string {
  if (env.AIRLOCK_CONFIG_DIR) return env.AIRLOCK_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'airlock');
}

export function createGrantTokenStore(options: { dir: string; now?: () => Date }): GrantTokenStore {
  const path = join(options.dir, 'grants.json');
  const now = options.now ?? (() => new Date());
  const open = (grant: StoredGrant) => Date.parse(grant.expiresAt) > now().getTime();

  async function read(): Promise<StoreFile> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, urls: {} };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as Partial<StoreFile>;
      return { version: 1, urls: typeof parsed.urls === 'object' && parsed.urls !== null ? parsed.urls : {} };
    } catch {
      return { version: 1, urls: {} }; // A damaged file only held short-lived tokens: start over.
    }
  }

  async function write(file: StoreFile): Promise<void> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    // Ended windows are dropped on every write, so the file never collects dead tokens.
    for (const [url, grants] of Object.entries(file.urls)) {
      const live = grants.filter(open);
      if (live.length) file.urls[url] = live;
      else delete file.urls[url];
    }
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    await chmod(temporary, 0o600); // whatever the umask said
    await rename(temporary, path);
  }

  return {
    path,
    async list(baseUrl) {
      return ((await read()).urls[baseUrl] ?? []).filter(open);
    },
    async pick(baseUrl, id) {
      const grants = (await read()).urls[baseUrl] ?? [];
      if (id) return grants.find((grant) => grant.id === id);
      return grants.filter(open).sort((a, b) => b.storedAt.localeCompare(a.storedAt))[0];
    },
    async put(baseUrl, grant) {
      const file = await read();
      const others = (file.urls[baseUrl] ?? []).filter((stored) => stored.id !== grant.id);
      file.urls[baseUrl] = [...others, { ...grant, storedAt: now().toISOString() }];
      await write(file);
    },
    async remove(baseUrl, id) {
      const file = await read();
      const grants = file.urls[baseUrl];
      if (!grants?.some((grant) => grant.id === id)) return;
      file.urls[baseUrl] = grants.filter((grant) => grant.id !== id);
      await write(file);
    },
  };
}
