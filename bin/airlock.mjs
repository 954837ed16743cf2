#!/usr/bin/env node
// The `airlock` command: runs cli/main.ts through tsx's ESM loader (tsx is a runtime dependency).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
