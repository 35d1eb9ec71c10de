import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../lib/app.ts';
import { parseConfig } from '../../lib/config.ts';

const root = join(import.meta.dirname, '..', '..');

/** cdk.json's feature flags (without the medllama config), so tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  const { medllama: _ignored, ...flags } = cdkJson.context;
  return flags;
}

/** The MedLlama app for a raw `medllama` config, not yet synthesized (tests may still add to it). */
export function buildTestApp(rawConfig: unknown = {}) {
  const app = new App({ context: cdkJsonContext() });
  const config = parseConfig(rawConfig);
  return { app, config, stacks: buildApp(app, config) };
}

/** The whole MedLlama app for a raw `medllama` config, synthesized once; templates of both stacks. */
export function synthApp(rawConfig: unknown = {}) {
  const { app, config, stacks } = buildTestApp(rawConfig);
  const pipeline = Template.fromStack(stacks.pipeline);
  const data = Template.fromStack(stacks.data);
  return { app, config, stacks, templates: { pipeline, data } };
}

/**
 * The pipeline definition as deployed: the `Fn::Join` of PipelineDefinitionBody with every CloudFormation
 * intrinsic replaced by `<cfn>`, parsed.
 */
export function deployedDefinition(template: Template): Record<string, unknown> & {
  Parameters: { Name: string; Type: string; DefaultValue?: unknown; EnumValues?: string[] }[];
  Steps: Record<string, unknown>[];
} {
  const pipelines = Object.values(template.findResources('AWS::SageMaker::Pipeline'));
  if (pipelines.length !== 1) throw new Error(`expected one pipeline, found ${pipelines.length}`);
  const body = (pipelines[0]!.Properties as { PipelineDefinition: { PipelineDefinitionBody: unknown } })
    .PipelineDefinition.PipelineDefinitionBody;
  const text =
    typeof body === 'string'
      ? body
      : ((body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1] as unknown[])
          .map((part) => (typeof part === 'string' ? part : '<cfn>'))
          .join('');
  return JSON.parse(text);
}

/** Replaces asset hashes (64 hex) and the bundle's hash-derived keys so snapshots survive code edits. */
export function maskAssetHashes<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replace(/[0-9a-f]{64}/g, '<asset-hash>')) as T;
}
