// The sweeper, run every minute by the schedule: expires grants whose window ended, drops their roles,
// reaps orphans and mails the approvals the query side held. A failure is thrown, so the error metric sees it.

import { parseFunctionConfig } from './config.ts';
import { buildAirlock, warmAirlock } from './runtime.ts';

const config = parseFunctionConfig(process.env);
const airlock = warmAirlock(() => buildAirlock(config, { parts: { api: true, query: false }, mail: true }));

await airlock.get().catch(() => {}); // as the HTTP functions: build during init, retry per event

export async function handler(): Promise<unknown> {
  const report = await (await airlock.get()).sweep();
  console.log(JSON.stringify({ sweep: report }));
  return report;
}
