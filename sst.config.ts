/// <reference path="./.sst/platform/config.d.ts" />
// Airlock on AWS: `sst deploy --stage <stage>`. The infrastructure lives in stacks/ (see the README, "Deploy to AWS").

export default $config({
  app(input) {
    const prod = input?.stage === 'prod';
    return {
      name: 'airlock',
      home: 'aws',
      // prod keeps its tables and secrets (audit history, keys) when the stage is removed.
      removal: prod ? 'retain' : 'remove',
      protect: prod,
    };
  },
  async run() {
    const { airlockStack } = await import('./stacks/airlock.ts');
    return airlockStack();
  },
});
