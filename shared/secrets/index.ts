export * from './source.ts';
export { createFileSecretSource } from './file.ts';
export { createAwsSecretSource } from './aws.ts';
