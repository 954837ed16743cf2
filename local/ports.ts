// Checks that the local stack's ports are free before anything is started or seeded, naming the setting to change.
// Never holds a port: each is bound for a moment and released.

import { createServer } from 'node:net';
import { AirlockError } from '../shared/errors.ts';

/** Throws `port N is in use: set VARIABLE` when `host:port` cannot be bound. */
export async function assertPortFree(host: string, port: number, variable: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(new AirlockError('invalid_config', `port ${port} is in use: set ${variable}`));
      else if (error.code === 'EACCES')
        reject(new AirlockError('invalid_config', `port ${port} may not be used by this user: set ${variable}`));
      else reject(error);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}
