// The WebSocket→TCP proxy as a service (container, EC2, Fargate) next to an RDS, Aurora or self-hosted
// Postgres. It forwards only to WSPROXY_TARGETS, never elsewhere; see the README, "The WebSocket proxy".

import { startWsProxy } from '../shared/wsproxy/index.ts';
import { proxyOptions } from './config.ts';

const proxy = await startWsProxy(proxyOptions(process.env));
console.log(`wsproxy: listening on ${proxy.address}`);
const stop = () => void proxy.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
