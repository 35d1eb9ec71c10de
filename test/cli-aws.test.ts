// AWS commands without a working AWS set-up: one region rule for all of them, and one clear message (no stack
// trace, no SDK Node-version warning) when credentials are missing or expired or no region is known. The CLI runs
// as a user runs it (a child process with an empty HOME); nothing reaches AWS: the credential chain fails
// locally, and the one service answer needed (an expired token) comes from a local HTTP server.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListEndpointsCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import type { SageMakerLike } from '../lib/aws/clients.ts';
import { classifyAwsError, explainAwsError } from '../lib/aws/errors.ts';
import { RegionError, resolveRegion } from '../lib/aws/region.ts';
import { createApproveCommand } from '../lib/cli/commands/approve.ts';
import { createEndpointsCommand } from '../lib/cli/commands/endpoints.ts';
import { createReportCommand } from '../lib/cli/commands/report.ts';
import { runStageBenchmarks } from '../lib/cli/commands/stage-benchmarks.ts';
import { createStartCommand } from '../lib/cli/commands/start.ts';
import { createStatusCommand } from '../lib/cli/commands/status.ts';
import { cdkJsonRegion } from '../lib/cli/deploy-config.ts';
import { ConfigError, parseConfig } from '../lib/config.ts';

const repo = join(import.meta.dirname, '..');

/** Runs bin/medllama.ts in a child process with only `env` (plus PATH): no credentials unless given. */
function medllama(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), 'medllama-home-'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'bin', 'medllama.ts'), ...args], {
      cwd: repo,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        // No instance-metadata probe, no profile files: the credential chain ends at once, offline.
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: join(home, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function expectOneClearMessage(stderr: string): void {
  expect(stderr).not.toContain('NodeVersionSupportWarning');
  expect(stderr).not.toMatch(/^\s+at /m); // no stack trace
  expect(stderr).toContain('The region comes from the first of:');
  expect(stderr).toContain(
    "--region, the ARN's region (commands given an ARN), AWS_REGION, AWS_DEFAULT_REGION, medllama.region in cdk.json, the AWS profile's region.",
  );
}

describe('no credentials, as a new user meets it', () => {
  test.each([
    ['endpoints', ['endpoints']],
    ['invoke', ['invoke', '--prompt', 'Asthma is']],
    ['status', ['status']],
    [
      'stage-benchmarks',
      ['stage-benchmarks', '--bucket', 'medllama-data-x', '--from', 'test/fixtures/pubmedqa', '--any-size'],
    ],
  ])('%s: says what to do (profile, aws configure, sso login), not "Region is missing"', async (_name, args) => {
    const { code, stderr } = await medllama(args);
    expect(code).toBe(1);
    // The region came from cdk.json, as for every AWS command: the SDK got as far as looking for credentials.
    expect(stderr).not.toContain('Region is missing');
    expect(stderr).toMatch(
      /: no AWS credentials found \(AWS SDK: .*Could not load credentials from any providers\)\.\n/,
    );
    expect(stderr).toContain('export AWS_PROFILE=<name>');
    expect(stderr).toContain('`aws configure`');
    expect(stderr).toContain('`aws sso login --profile <name>`');
    expect(stderr).not.toContain('--dry-run');
    expectOneClearMessage(stderr);
  });

  test('start: also offers --dry-run, which needs no AWS', async () => {
    const { code, stderr } = await medllama(['start', '--param', 'MaxSteps=10']);
    expect(code).toBe(1);
    expect(stderr).toContain('no AWS credentials found');
    expect(stderr).toContain('Without AWS, --dry-run checks the parameters and prints the request.');
    expectOneClearMessage(stderr);
  });

  test('an expired IAM Identity Center session names the profile to sign in with', async () => {
    const home = mkdtempSync(join(tmpdir(), 'medllama-sso-'));
    const startUrl = 'https://example.awsapps.com/start';
    writeFileSync(
      join(home, 'config'),
      `[profile research]\nsso_start_url = ${startUrl}\nsso_region = us-east-1\nsso_account_id = 123456789012\n` +
        'sso_role_name = ReadOnly\nregion = us-east-1\n',
    );
    // The SDK's token cache for a legacy SSO profile: ~/.aws/sso/cache/<sha1 of the start URL>.json.
    const cache = join(home, '.aws', 'sso', 'cache');
    mkdirSync(cache, { recursive: true });
    writeFileSync(
      join(cache, `${createHash('sha1').update(startUrl).digest('hex')}.json`),
      JSON.stringify({ startUrl, region: 'us-east-1', accessToken: 'x', expiresAt: '2020-01-01T00:00:00Z' }),
    );
    const { code, stderr } = await medllama(['endpoints'], {
      HOME: home,
      AWS_CONFIG_FILE: join(home, 'config'),
      AWS_PROFILE: 'research',
    });
    expect(code).toBe(1);
    expect(stderr).toContain('medllama endpoints: your AWS SSO session has expired');
    expect(stderr).toContain('`aws sso login --profile research`');
    expectOneClearMessage(stderr);
  });

  test('AWS_REGION with a typo is refused before any AWS call, naming the variable', async () => {
    const { code, stderr } = await medllama(['endpoints'], { AWS_REGION: 'us-east1' });
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'medllama endpoints: AWS_REGION: got "us-east1", expected an AWS region such as us-east-1',
    );
  });
});

describe('the SDK errors the message is built from', () => {
  let server: Server;
  let endpoint: string;
  beforeAll(async () => {
    // Answers every SageMaker call the way the service answers an expired session token.
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400, {
          'Content-Type': 'application/x-amz-json-1.1',
          'x-amzn-ErrorType': 'ExpiredTokenException',
        });
        res.end(
          JSON.stringify({
            __type: 'ExpiredTokenException',
            message: 'The security token included in the request is expired',
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('an expired session token', async () => {
    const client = new SageMakerClient({
      endpoint,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x', sessionToken: 'old' },
    });
    const err = await client.send(new ListEndpointsCommand({})).catch((e: unknown) => e);
    client.destroy();
    expect(classifyAwsError(err)).toBe('expired');
    const message = explainAwsError(err, { profile: undefined })!;
    expect(message.split('\n')[0]).toBe(
      'your AWS credentials have expired (AWS SDK: The security token included in the request is expired).',
    );
    expect(message).toContain('AWS_SESSION_TOKEN');
  });

  test('no region anywhere: the sources, in order', async () => {
    const saved = { ...process.env };
    const home = mkdtempSync(join(tmpdir(), 'medllama-noregion-'));
    try {
      for (const key of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[key];
      process.env.AWS_CONFIG_FILE = join(home, 'none');
      process.env.AWS_SHARED_CREDENTIALS_FILE = join(home, 'none');
      const client = new SageMakerClient({ credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      const err = await client.send(new ListEndpointsCommand({})).catch((e: unknown) => e);
      client.destroy();
      expect(classifyAwsError(err)).toBe('no-region');
      const message = explainAwsError(err, { withoutAws: '--dry-run checks the parameters' })!;
      expect(message).toMatch(/^no AWS region \(AWS SDK: Region is missing\)\.$/m);
      expect(message).toContain('give --region <region>, or export AWS_REGION=<region>');
      expect(message).toContain('Without AWS, --dry-run checks the parameters.');
    } finally {
      process.env = saved;
    }
  });

  test('errors wrapped by a command are recognised through their cause; others pass through', () => {
    const sdk = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(classifyAwsError(new Error('InvokeEndpoint medllama-dev failed', { cause: sdk }))).toBe('no-credentials');
    expect(classifyAwsError(Object.assign(new Error('x'), { name: 'UnrecognizedClientException' }))).toBe('rejected');
    expect(explainAwsError(new Error('pipeline medllama-dev has no executions yet'))).toBeUndefined();
  });
});

describe('one region rule for every AWS command', () => {
  afterEach(() => vi.unstubAllEnvs());

  test('flag, then the ARN, AWS_REGION, AWS_DEFAULT_REGION, cdk.json, then the profile', () => {
    const arn = 'arn:aws:sagemaker:ap-south-1:123456789012:pipeline/medllama-dev/execution/abc';
    const env = { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-2' };
    const cdkJson = () => 'eu-central-1';
    expect(resolveRegion({ flag: 'us-west-2', arn, env, cdkJson })).toEqual({
      region: 'us-west-2',
      source: '--region',
    });
    expect(resolveRegion({ arn, env, cdkJson })).toEqual({ region: 'ap-south-1', source: 'the ARN' });
    expect(resolveRegion({ env, cdkJson })).toEqual({ region: 'eu-west-1', source: 'AWS_REGION' });
    expect(resolveRegion({ env: { AWS_DEFAULT_REGION: 'eu-west-2' }, cdkJson })).toMatchObject({
      source: 'AWS_DEFAULT_REGION',
    });
    expect(resolveRegion({ env: {}, cdkJson })).toEqual({ region: 'eu-central-1', source: 'cdk.json' });
    expect(resolveRegion({ env: {}, cdkJson: () => undefined })).toEqual({
      region: undefined,
      source: 'the AWS profile',
    });
    expect(() => resolveRegion({ flag: 'Europe', env: {} })).toThrow(RegionError);
    expect(() => resolveRegion({ flag: 'Europe', env: {} })).toThrow('--region: got "Europe", expected an AWS region');
  });

  test('cdk.json: medllama.region when written there (validated with the whole config)', () => {
    const root = (medllama: unknown) => {
      const dir = mkdtempSync(join(tmpdir(), 'medllama-cdkjson-'));
      writeFileSync(join(dir, 'cdk.json'), JSON.stringify({ context: { medllama } }));
      return dir;
    };
    expect(cdkJsonRegion(repo)).toBe(parseConfig({ region: 'us-east-1' }).region);
    expect(cdkJsonRegion(root({ stage: 'qa', region: 'eu-north-1' }))).toBe('eu-north-1');
    expect(cdkJsonRegion(root({ stage: 'qa' }))).toBeUndefined();
    expect(() => cdkJsonRegion(root({ regoin: 'eu-north-1' }))).toThrow(ConfigError);
  });

  test('every command hands its client the region the rule picks', async () => {
    vi.stubEnv('AWS_REGION', '');
    vi.stubEnv('AWS_DEFAULT_REGION', '');
    const seen: Record<string, string | undefined> = {};
    const refusing = (name: string) => (region: string | undefined) => {
      seen[name] = region;
      return {
        send: async () => {
          throw new Error('stop here');
        },
      } as unknown as SageMakerLike;
    };
    const config = parseConfig({});
    const cdkJson = () => 'eu-central-1';
    const log = () => {};
    const attempts: [string, () => Promise<number>][] = [
      [
        'start',
        () =>
          createStartCommand({ client: refusing('start'), config: () => config, cdkJsonRegion: cdkJson, log }).run([]),
      ],
      [
        'status',
        () =>
          createStatusCommand({ client: refusing('status'), config: () => config, cdkJsonRegion: cdkJson, log }).run(
            [],
          ),
      ],
      [
        'endpoints',
        () => createEndpointsCommand({ client: refusing('endpoints'), cdkJsonRegion: cdkJson, log }).run([]),
      ],
      [
        'stage-benchmarks',
        () =>
          runStageBenchmarks(
            ['--bucket', 'medllama-data-x', '--from', join(repo, 'test/fixtures/pubmedqa'), '--any-size'],
            {
              cdkJsonRegion: cdkJson,
              log,
              s3: (opts) => {
                seen['stage-benchmarks'] = opts.region;
                return refusing('s3')(opts.region) as never;
              },
            },
          ),
      ],
    ];
    for (const [, attempt] of attempts) await expect(attempt()).rejects.toThrow('stop here');
    expect(seen).toMatchObject({
      start: 'eu-central-1',
      status: 'eu-central-1',
      endpoints: 'eu-central-1',
      'stage-benchmarks': 'eu-central-1',
    });

    // AWS_REGION comes before cdk.json, for every command alike.
    vi.stubEnv('AWS_REGION', 'ap-southeast-2');
    for (const [, attempt] of attempts) await expect(attempt()).rejects.toThrow('stop here');
    expect(
      new Set(
        Object.entries(seen)
          .filter(([k]) => k !== 's3')
          .map(([, v]) => v),
      ),
    ).toEqual(new Set(['ap-southeast-2']));

    // A command given an ARN uses its region, even over AWS_REGION.
    const execution = 'arn:aws:sagemaker:sa-east-1:123456789012:pipeline/medllama-dev/execution/abc123';
    const pkg = 'arn:aws:sagemaker:sa-east-1:123456789012:model-package/medllama-dev/1';
    await expect(createApproveCommand({ client: refusing('approve'), log }).run([pkg])).rejects.toThrow('stop here');
    await expect(
      createStatusCommand({ client: refusing('status'), config: () => config, cdkJsonRegion: cdkJson, log }).run([
        execution,
      ]),
    ).rejects.toThrow('stop here');
    let reportRegion: string | undefined;
    await expect(
      createReportCommand({
        clients: (region) => {
          reportRegion = region;
          throw new Error('stop here');
        },
        log,
      }).run(['--execution', execution, '--out', mkdtempSync(join(tmpdir(), 'medllama-rep-'))]),
    ).rejects.toThrow('stop here');
    expect([seen.approve, seen.status, reportRegion]).toEqual(['sa-east-1', 'sa-east-1', 'sa-east-1']);
  });
});
