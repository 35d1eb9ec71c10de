import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTAINERS_DIR } from './containers.ts';

/** `containers/dlc.json`: the one place naming MedLlama's container images. */
export interface DlcConfig {
  readonly training: {
    readonly repository: string;
    readonly tag: string;
    readonly python: string;
    /** The image's SAGEMAKER_TRAINING_MODULE: the framework module the training toolkit hands the job to. */
    readonly trainingModule: string;
    /** The image's ENTRYPOINT (SageMaker appends `train`). */
    readonly entrypoint: readonly string[];
  };
  readonly processing: { readonly sameAs: 'training' };
  readonly serving: {
    readonly default: ServingContainer;
    readonly vllm: { readonly repository: string; readonly tag: string };
    readonly tgi: { readonly repository: string; readonly tag: string };
  };
  readonly registries: Readonly<Record<string, string>>;
}

export type ServingContainer = 'vllm' | 'tgi';
export type ImageRole = 'training' | 'processing' | ServingContainer;

const DLC_PATH = join(CONTAINERS_DIR, 'dlc.json');

let cached: DlcConfig | undefined;

export function loadDlcConfig(): DlcConfig {
  cached ??= JSON.parse(readFileSync(DLC_PATH, 'utf8')) as DlcConfig;
  return cached;
}

/** The ECR domain of a region's partition (SDK image_uris: China and the ISO partitions differ). */
function ecrDomain(region: string): string {
  if (region.startsWith('cn-')) return 'amazonaws.com.cn';
  if (region.startsWith('us-isob-')) return 'sc2s.sgov.gov';
  if (region.startsWith('us-iso-')) return 'c2s.ic.gov';
  return 'amazonaws.com';
}

/** The Deep Learning Container image URI for a role in a region; throws for a region without a registry. */
export function imageUri(role: ImageRole, region: string, dlc: DlcConfig = loadDlcConfig()): string {
  const account = dlc.registries[region];
  if (!account) {
    throw new Error(
      `No Hugging Face DLC registry for region "${region}" in containers/dlc.json; known regions: ${Object.keys(dlc.registries).sort().join(', ')}`,
    );
  }
  const image = role === 'training' || role === 'processing' ? dlc.training : dlc.serving[role];
  return `${account}.dkr.ecr.${region}.${ecrDomain(region)}/${image.repository}:${image.tag}`;
}

/** The training image's SAGEMAKER_TRAINING_MODULE (`module:function`), which the local runner sets as the image does. */
export function trainingModule(dlc: DlcConfig = loadDlcConfig()): string {
  return dlc.training.trainingModule;
}

/** The training image's ENTRYPOINT, which the Train step's stop relay starts (containers/dlc.json). */
export function trainingEntrypoint(dlc: DlcConfig = loadDlcConfig()): readonly string[] {
  return dlc.training.entrypoint;
}
