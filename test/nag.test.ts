import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, test } from 'vitest';
import { nagFindings } from './support/nag.ts';
import { buildTestApp, synthApp } from './support/pipeline-app.ts';

describe('cdk-nag AwsSolutions over the whole app', () => {
  test.each([
    ['default config', {}],
    [
      'JumpStart weights, PMC Open Data, spot, tuning, e-mail',
      {
        baseModel: { source: 'jumpstart', acceptLlama2Eula: true },
        data: { usePmcOpenData: true },
        spot: true,
        tuning: true,
        notificationEmail: 'ml@example.org',
      },
    ],
    [
      'JumpStart weights with a tokenizer override (StageBaseModel step)',
      {
        baseModel: {
          source: 'jumpstart',
          acceptLlama2Eula: true,
          tokenizerS3Uri: 's3://shared-tokenizers/llama-2/tokenizer.json',
        },
      },
    ],
    ['throw-away stage (retainData: false)', { stage: 'scratch', retainData: false }],
    ['explicit account and another region', { account: '111122223333', region: 'eu-west-1' }],
  ])('%s: every stack has zero unacknowledged findings', (_name, raw) => {
    const { app } = synthApp(raw);
    const stacks = app.node.children.filter((c): c is Stack => Stack.isStack(c));
    expect(stacks.map((s) => s.stackName).sort()).toEqual(
      [
        `MedLlama-${(raw as { stage?: string }).stage ?? 'dev'}-Data`,
        `MedLlama-${(raw as { stage?: string }).stage ?? 'dev'}-Pipeline`,
        `MedLlama-${(raw as { stage?: string }).stage ?? 'dev'}-Serving`,
      ].sort(),
    );
    for (const stack of stacks) expect(nagFindings(app, stack)).toEqual([]);
  });

  test('a wildcard added to the execution role without a reason is reported', () => {
    const { app, stacks } = buildTestApp();
    stacks.pipeline.role.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'Unjustified', actions: ['s3:*'], resources: ['*'] }),
    );
    // The app's AwsSolutions plugin fails synthesis, naming the finding ...
    expect(() => Template.fromStack(stacks.pipeline)).toThrow(/AwsSolutions-IAM5\[Action::s3:\*\]/);
    // ... and it is the only one: the role's justified wildcards stay acknowledged.
    const report = new AwsSolutionsChecks(app).validateScope(stacks.pipeline);
    const iam5 = report.violations.filter((v) => v.ruleName.startsWith('AwsSolutions-IAM5'));
    expect(iam5.map((v) => v.ruleName)).toEqual(['AwsSolutions-IAM5[Action::s3:*]']);
    expect(iam5[0]!.violatingResources.map((r) => r.constructPath)).toEqual([
      'MedLlama-dev-Pipeline/ExecutionRole/Resource/DefaultPolicy/Resource',
    ]);
  });

  test('a topic without TLS enforcement is reported', () => {
    const { app, stacks } = buildTestApp();
    new sns.Topic(stacks.pipeline, 'Careless');
    expect(() => Template.fromStack(stacks.pipeline)).toThrow(/MedLlama-dev-Pipeline\/Careless\/Resource/);
    const findings = nagFindings(app, stacks.pipeline);
    expect(findings.some((f) => f.startsWith('AwsSolutions-SNS3') && f.includes('Careless'))).toBe(true);
  });
});
