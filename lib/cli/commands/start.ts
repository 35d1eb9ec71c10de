import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { DescribePipelineCommand, StartPipelineExecutionCommand } from '@aws-sdk/client-sagemaker';
import { executionProblems } from '../../../pipeline-steps/execution-checks.ts';
import { resolveParameters } from '../../../pipeline-steps/local/expressions.ts';
import type { ParameterDefinition } from '../../../pipeline-steps/local/types.ts';
import { type S3Like, type SageMakerLike, sageMakerClient } from '../../aws/clients.ts';
import { describeRegion, resolveRegion } from '../../aws/region.ts';
import type { MedLlamaConfig } from '../../config.ts';
import type { DefinitionParameter } from '../../private/definition-tokens.ts';
import { type DefinitionJson, definitionForConfig, pipelineNames } from '../../stacks/pipeline-stack.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { cdkJsonRegion, readDeployConfig } from '../deploy-config.ts';
import { checkInputs, describeInputCheck, externalInputs } from '../input-check.ts';
import { parseOptions, regionOption } from '../options.ts';

const usage = `usage: medllama start [--param Name=Value]... [--display-name NAME] [--pipeline NAME]
                      [--definition FILE] [--region REGION] [--skip-input-check] [--dry-run]

Starts an execution of the deployed MedLlama pipeline (StartPipelineExecution). Every --param is checked
against the pipeline definition's own Parameters (name, type, allowed values) before anything is sent.
The ClientRequestToken is derived from the pipeline, the parameters and the display name, so re-running
the same command (a retry after a timeout) cannot start a second 7B training run; give another
--display-name to start a new execution with the same parameters on purpose.
Before sending, every S3 input the execution reads from outside itself (staged articles, the base model's
tokenizer files, benchmarks, general text, the code bundle) is listed in S3 as the deployed definition names
it, with this execution's parameter values: a missing one would fail its step when it starts, hours in.`;

const options = [
  {
    name: 'param',
    value: 'Name=Value',
    description: 'a pipeline parameter, e.g. --param TrainInstanceType=ml.p4d.24xlarge',
    repeatable: true,
  },
  { name: 'display-name', value: 'NAME', description: 'execution display name (letters, digits and "-", at most 82)' },
  { name: 'pipeline', value: 'NAME', description: 'pipeline name (default medllama-<stage> from cdk.json)' },
  {
    name: 'definition',
    value: 'FILE',
    description: 'read the Parameters from this definition JSON instead of building it from cdk.json',
  },
  regionOption(),
  { name: 'skip-input-check', description: 'do not list the S3 inputs before starting' },
  { name: 'dry-run', description: 'validate and print the request, do not call AWS' },
] as const;

/** One `--param` after validation: the name and the string SageMaker receives. */
export interface PipelineParameterValue {
  readonly Name: string;
  readonly Value: string;
}

function expected(p: DefinitionParameter): string {
  const type = { String: 'a string', Integer: 'an integer', Float: 'a number', Boolean: 'true or false' }[p.Type];
  return p.EnumValues ? `one of ${p.EnumValues.join(', ')}` : type;
}

/**
 * Parses and checks `Name=Value` assignments against the definition's Parameters. Throws a {@link UsageError} that
 * names the parameter, the value given and what was expected; returns the values sorted by name.
 */
export function validateParameters(assignments: string[], parameters: DefinitionParameter[]): PipelineParameterValue[] {
  const byName = new Map(parameters.map((p) => [p.Name, p]));
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) {
      problems.push(`--param ${JSON.stringify(assignment)}: expected Name=Value`);
      continue;
    }
    const name = assignment.slice(0, eq);
    const value = assignment.slice(eq + 1);
    const param = byName.get(name);
    if (!param) {
      problems.push(
        `--param ${name}: no such pipeline parameter (got value ${JSON.stringify(value)}); expected one of ${[...byName.keys()].sort().join(', ')}`,
      );
      continue;
    }
    if (seen.has(name)) {
      problems.push(`--param ${name}: given twice (${JSON.stringify(seen.get(name))} and ${JSON.stringify(value)})`);
      continue;
    }
    seen.set(name, value);
    const ok =
      param.Type === 'Integer'
        ? /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value))
        : param.Type === 'Float'
          ? value.trim() !== '' && Number.isFinite(Number(value))
          : param.Type === 'Boolean'
            ? value === 'true' || value === 'false'
            : true;
    if (!ok || (param.EnumValues && !param.EnumValues.includes(value))) {
      problems.push(
        `--param ${name}=${value}: got ${JSON.stringify(value)}, expected ${expected(param)} (${param.Type})`,
      );
    }
  }
  if (problems.length) throw new UsageError(`invalid parameters:\n  - ${problems.join('\n  - ')}`);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([Name, Value]) => ({ Name, Value }));
}

/**
 * The execution's values (the definition's defaults, then `params`) checked for ranges, instance types per job and
 * whether the model fits the training GPUs (pipeline-steps/execution-checks.ts), before anything is sent.
 */
export function checkExecution(parameters: DefinitionParameter[], params: PipelineParameterValue[]): void {
  const values: Record<string, string | number | boolean> = {};
  for (const p of parameters) if (p.DefaultValue !== undefined) values[p.Name] = p.DefaultValue as string | number;
  for (const p of params) values[p.Name] = p.Value;
  const problems = executionProblems(values);
  if (problems.length) throw new UsageError(`this execution would fail:\n  - ${problems.join('\n  - ')}`);
}

/** The idempotency token: same pipeline, parameters and display name ⇒ same token (hex, 64 characters). */
export function clientRequestToken(pipelineName: string, params: PipelineParameterValue[], displayName = ''): string {
  const canonical = JSON.stringify({ pipelineName, displayName, params: params.map((p) => [p.Name, p.Value]) });
  return createHash('sha256').update(canonical).digest('hex');
}

/** A definition JSON file, or a DescribePipeline response holding one. */
function loadDefinitionFile(file: string): DefinitionJson {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { PipelineDefinition?: string } & DefinitionJson;
  return typeof raw.PipelineDefinition === 'string' ? (JSON.parse(raw.PipelineDefinition) as DefinitionJson) : raw;
}

/** The definition's Parameters: from a file (a definition JSON or a DescribePipeline response) or from the config. */
export function loadParameters(definitionFile: string | undefined, config: MedLlamaConfig): DefinitionParameter[] {
  const definition = definitionFile ? loadDefinitionFile(definitionFile) : definitionForConfig(config);
  if (!Array.isArray(definition.Parameters)) {
    throw new UsageError(`${definitionFile ?? 'the pipeline definition'} has no Parameters list`);
  }
  return definition.Parameters;
}

export interface StartOptions {
  readonly pipelineName: string;
  readonly params: PipelineParameterValue[];
  readonly displayName?: string;
}

/** Sends StartPipelineExecution; returns the execution ARN. */
export async function startExecution(client: SageMakerLike, options: StartOptions): Promise<string> {
  const response = await client.send(
    new StartPipelineExecutionCommand({
      PipelineName: options.pipelineName,
      PipelineParameters: options.params.map((p) => ({ Name: p.Name, Value: p.Value })),
      ClientRequestToken: clientRequestToken(options.pipelineName, options.params, options.displayName),
      ...(options.displayName ? { PipelineExecutionDisplayName: options.displayName } : {}),
    }),
  );
  if (!response.PipelineExecutionArn) throw new Error('StartPipelineExecution returned no PipelineExecutionArn');
  return response.PipelineExecutionArn;
}

/**
 * The deployed definition (DescribePipeline; `--definition` FILE instead when given) and this execution's values:
 * its S3 inputs that no step makes, listed in S3. Throws a {@link UsageError} naming every missing one.
 */
export async function checkExecutionInputs(
  sagemaker: SageMakerLike,
  s3: S3Like,
  pipelineName: string,
  params: PipelineParameterValue[],
  definitionFile: string | undefined,
  log: (line: string) => void,
): Promise<void> {
  let definition: DefinitionJson;
  if (definitionFile) {
    definition = loadDefinitionFile(definitionFile);
  } else {
    const described = await sagemaker.send(new DescribePipelineCommand({ PipelineName: pipelineName }));
    if (!described.PipelineDefinition) throw new Error(`DescribePipeline ${pipelineName} returned no definition`);
    definition = JSON.parse(described.PipelineDefinition) as DefinitionJson;
  }
  const values = resolveParameters(
    (definition.Parameters ?? []) as unknown as ParameterDefinition[],
    Object.fromEntries(params.map((p) => [p.Name, p.Value])),
  );
  const { lines, error } = describeInputCheck(await checkInputs(s3, externalInputs(definition, values)));
  for (const line of lines) log(line);
  if (error) throw new UsageError(error);
}

export interface StartDeps {
  readonly client: (region: string | undefined) => SageMakerLike;
  /** @default - an S3 client for the region */
  readonly s3?: (region: string | undefined) => S3Like;
  readonly config: () => MedLlamaConfig;
  /** `medllama.region` as cdk.json writes it (default: read from the repository's cdk.json). */
  readonly cdkJsonRegion?: () => string | undefined;
  readonly log: (line: string) => void;
}

const defaultDeps: StartDeps = {
  client: (region) => sageMakerClient({ region }),
  s3: (region) => new S3Client({ maxAttempts: 4, ...(region ? { region } : {}) }),
  config: () => readDeployConfig(),
  log: (line) => console.log(line),
};

export function createStartCommand(deps: StartDeps = defaultDeps): CliCommand {
  return {
    name: 'start',
    summary: 'start a pipeline execution (parameters checked against the definition first)',
    usage,
    options,
    withoutAws: '--dry-run checks the parameters and prints the request',
    async run(argv: string[]): Promise<number> {
      const { values } = parseOptions(argv, options);
      const displayName = values['display-name'];
      if (displayName !== undefined && !/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,81}$/.test(displayName)) {
        throw new UsageError(
          `--display-name: got ${JSON.stringify(displayName)}, expected letters, digits and "-" (at most 82, no leading "-")`,
        );
      }
      const config = deps.config();
      const parameters = loadParameters(values.definition, config);
      const params = validateParameters(values.param, parameters);
      checkExecution(parameters, params);
      const pipelineName = values.pipeline ?? pipelineNames(config.stage).pipelineName;
      const choice = resolveRegion({ flag: values.region, cdkJson: deps.cdkJsonRegion ?? cdkJsonRegion });
      const token = clientRequestToken(pipelineName, params, displayName);
      deps.log(`pipeline  ${pipelineName} in ${describeRegion(choice)}`);
      for (const p of params) deps.log(`param     ${p.Name}=${p.Value}`);
      if (params.length === 0) deps.log('param     (all defaults)');
      deps.log(`token     ${token}`);
      if (values['dry-run']) {
        deps.log('dry run: nothing sent');
        return 0;
      }
      const sagemaker = deps.client(choice.region);
      if (values['skip-input-check']) deps.log('inputs    not checked (--skip-input-check)');
      else {
        const s3 = (deps.s3 ?? defaultDeps.s3!)(choice.region);
        await checkExecutionInputs(sagemaker, s3, pipelineName, params, values.definition, deps.log);
      }
      const arn = await startExecution(sagemaker, { pipelineName, params, displayName });
      deps.log(`started   ${arn}`);
      deps.log(`follow it with: medllama status ${arn}`);
      return 0;
    },
  };
}

export const command = createStartCommand();
