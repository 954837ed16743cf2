// The benchmark's WebSocket→TCP proxy in a process of its own, so its CPU is not charged to the client or
// the broker. Started by bench/stack.ts with the allowed targets; never outlives its parent.

import { startWsProxy } from '../shared/wsproxy/index.ts';

const proxy = await startWsProxy({ targets: process.argv.slice(2) });
process.send?.({ address: proxy.address });
process.on('disconnect', () => void proxy.close().finally(() => process.exit(0)));
