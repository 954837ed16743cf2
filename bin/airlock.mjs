#!/usr/bin/env node
// The `airlock` command: runs cli/main.ts through tsx's ESM loader (tsx is a runtime dependency).
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
