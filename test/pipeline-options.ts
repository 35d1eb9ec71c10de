import type { MedLlamaPipelineOptions } from '../pipeline-steps/definition.ts';

/** Placeholder account/bucket values shaped like real ones (the API patterns need a 12-digit account). */
export const PLACEHOLDER_OPTIONS: MedLlamaPipelineOptions = {
  roleArn: 'arn:aws:iam::111122223333:role/MedLlamaPipelineRole',
  dataBucket: 'medllama-data-111122223333',
  artifactBucket: 'medllama-artifacts-111122223333',
  kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  codeUri: 's3://medllama-artifacts-111122223333/code/0123456789abcdef/',
  trainingCodeUri: 's3://medllama-artifacts-111122223333/code/0123456789abcdef/sourcedir.tar.gz',
  region: 'us-east-1',
  modelPackageGroupName: 'medllama-llama2-7b',
  baseModel: { kind: 's3', s3Uri: 's3://medllama-artifacts-111122223333/base-models/llama-2-7b/' },
  benchmarksUri: 's3://medllama-data-111122223333/benchmarks/pubmedqa/',
  generalTextUri: 's3://medllama-data-111122223333/general-text/',
  decontamPmidsUri: 's3://medllama-data-111122223333/benchmarks/pqal_all_pmids.txt',
};
