import { describe, expect, test } from 'vitest';
import { ConfigError, parseConfig } from '../lib/config.ts';

describe('parseConfig', () => {
  test('fills defaults from an empty context', () => {
    expect(parseConfig(undefined)).toMatchObject({
      stage: 'dev',
      region: 'us-east-1',
      retainData: true,
      noncurrentVersionDays: 30,
      accessLogDays: 365,
    });
  });

  test('keeps given values', () => {
    const config = parseConfig({ stage: 'prod', account: '123456789012', region: 'eu-west-1', retainData: false });
    expect(config).toMatchObject({ stage: 'prod', account: '123456789012', region: 'eu-west-1', retainData: false });
  });

  test.each([
    [{ stage: 'Prod!' }, 'medllama.stage: got "Prod!", expected lowercase letters'],
    [{ account: '1234' }, 'medllama.account: got "1234", expected a 12-digit AWS account id'],
    [{ region: 'mars-1' }, 'medllama.region: got "mars-1", expected an AWS region'],
    [{ retainData: 'yes' }, 'medllama.retainData: got "yes", expected'],
    [{ noncurrentVersionDays: 0 }, 'medllama.noncurrentVersionDays: got 0, expected'],
    [{ accessLogDays: 1.5 }, 'medllama.accessLogDays: got 1.5, expected'],
  ])('fails naming the field, the value and what was expected: %j', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  });

  test('fails on unknown fields, naming them, the closest known field and every known field', () => {
    expect(() => parseConfig({ regoin: 'us-east-1' })).toThrow(
      'medllama: unknown field "regoin" (did you mean "region"?); known fields: stage, account, region, retainData,',
    );
    expect(() => parseConfig({ stgae: 'dev', zzz: 1 })).toThrow(
      /medllama: unknown fields "stgae" \(did you mean "stage"\?\), "zzz"; known fields: stage, .*, serving$/m,
    );
  });

  test.each([
    [{ data: { inputS3uri: 's3://b/x/' } }, 'medllama.data: unknown field "inputS3uri" (did you mean "inputS3Uri"?)'],
    [
      { instances: { train: { tpye: 'ml.g5.2xlarge' } } },
      'medllama.instances.train: unknown field "tpye" (did you mean "type"?); known fields: type, count',
    ],
    // A discriminated union: the fields of the option the `source` names.
    [
      { baseModel: { source: 'jumpstart', acceptLlama2Eula: true, modelid: 'x' } },
      'medllama.baseModel: unknown field "modelid" (did you mean "modelId"?); known fields: source, acceptLlama2Eula, modelId, tokenizerS3Uri, gatedKey',
    ],
    [
      { baseModel: { source: 's3', uri: 's3://b/m/' } },
      'medllama.baseModel: unknown field "uri"; known fields: source, s3Uri',
    ],
  ])('unknown nested field %j: the suggestion and the known fields at that level', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
  });

  test('fails when the context is not an object', () => {
    expect(() => parseConfig('prod')).toThrow('medllama: got "prod", expected an object');
  });

  test('reports every problem at once', () => {
    try {
      parseConfig({ stage: '', region: 'x' });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).issues).toHaveLength(2);
    }
  });
});
