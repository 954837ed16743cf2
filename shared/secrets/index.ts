export { createAwsSecretSource } from './aws.ts';
export { createFileSecretSource } from './file.ts';
export * from './source.ts';
