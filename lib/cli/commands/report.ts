// `medllama report --run <run folder>` or `--execution <ARN>`: report.md, report.html and slides.html.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { sageMakerClient } from '../../aws/clients.ts';
import { resolveRegion } from '../../aws/region.ts';
import { type AwsReportClients, EXECUTION_ARN, type FetchResult, fetchExecution } from '../../report/aws.ts';
import { collectRun } from '../../report/collect.ts';
import { localReportRun, logReportToMlflow, type ReportRun } from '../../report/mlflow.ts';
import { renderHtml, renderMarkdown } from '../../report/render.ts';
import { renderSlides } from '../../report/slides.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { cdkJsonRegion } from '../deploy-config.ts';
import { parseOptions, regionOption } from '../options.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Writes the three files into `out` (default: the run folder; created when missing); returns their paths. */
export function writeReport(runDir: string, out = runDir): { md: string; html: string; slides: string } {
  const data = collectRun(runDir);
  mkdirSync(out, { recursive: true });
  const files = { md: join(out, 'report.md'), html: join(out, 'report.html'), slides: join(out, 'slides.html') };
  writeFileSync(files.md, renderMarkdown(data));
  writeFileSync(files.html, renderHtml(data));
  writeFileSync(files.slides, renderSlides(data));
  return files;
}

const usage = `usage: medllama report --run <run folder> [--out DIR]
       medllama report --execution <pipeline execution ARN> [--out DIR] [--region REGION]

--run: reads runs/<id>/ (state.json, step logs, the step outputs) and writes report.md, a self-contained
report.html (SVG charts) and slides.html (←/→ to navigate, print to PDF) into the run folder or --out.

--execution: fetches a SageMaker pipeline execution into --out (default runs/aws-<execution id>), laid out
like a local run: step states and times (DescribePipelineExecution, ListPipelineExecutionSteps), the step
reports, evaluation.json and qualitative.jsonl (S3, located through DescribeProcessingJob), training_summary.json
(the training job's output.tar.gz) and the training curves (CloudWatch GetMetricData), then writes the same
report there, and adds it to the execution's MLflow run (your AWS credentials sign the calls). A running
execution gives a partial report that says so; every artifact that could not be fetched is named with the
reason (sources.json).`;

const options = [
  { name: 'run', value: 'DIR', description: 'a local run folder (runs/<id>)' },
  { name: 'execution', value: 'ARN', description: 'a SageMaker pipeline execution ARN' },
  {
    name: 'out',
    value: 'DIR',
    description:
      'where the report goes, created if missing\n(default: the run folder; runs/aws-<execution id> for --execution)',
  },
  regionOption("the execution ARN's region"),
] as const;

export interface ReportDeps {
  readonly clients: (region: string | undefined) => AwsReportClients;
  readonly log: (line: string) => void;
  /** Adds the report files to an MLflow run; returns what to tell the user. @default - python -m medllama.tracking */
  readonly logToMlflow?: (run: ReportRun, files: readonly string[]) => string | undefined;
}

/** The project venv's python, which has the tracker and the sagemaker-mlflow plugin; none outside a checkout. */
function venvLogToMlflow(run: ReportRun, files: readonly string[]): string | undefined {
  const python = join(repoRoot, '.venv', 'bin', 'python');
  return existsSync(python) ? logReportToMlflow(run, files, python) : undefined;
}

const defaultDeps: ReportDeps = {
  clients: (region) => ({
    sagemaker: sageMakerClient({ region }),
    s3: new S3Client({ maxAttempts: 4, ...(region ? { region } : {}) }),
    cloudwatch: new CloudWatchClient({ maxAttempts: 4, ...(region ? { region } : {}) }),
  }),
  log: (line) => console.log(line),
};

/** Fetches an execution into `out` and writes the report there. */
export async function writeExecutionReport(
  clients: AwsReportClients,
  executionArn: string,
  out: string,
): Promise<{ fetched: FetchResult; files: ReturnType<typeof writeReport> }> {
  const fetched = await fetchExecution(clients, executionArn, out);
  return { fetched, files: writeReport(out) };
}

export function createReportCommand(deps: ReportDeps = defaultDeps): CliCommand {
  return {
    name: 'report',
    summary: 'Write report.md, report.html and slides.html for a run or an AWS execution',
    usage,
    options,
    async run(argv) {
      const { values } = parseOptions(argv, options);
      let { run, execution } = values;
      const { out } = values;
      if (run?.startsWith('arn:')) [execution, run] = [run, undefined];
      if (run && execution) throw new UsageError('give either --run or --execution, not both');
      if (!run && !execution) throw new UsageError('--run <run folder> or --execution <execution ARN> is required');
      if (execution) {
        const m = EXECUTION_ARN.exec(execution);
        if (!m) {
          throw new UsageError(
            `execution ARN: got ${JSON.stringify(execution)}, expected arn:aws:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>`,
          );
        }
        const dir = resolve(out ?? join('runs', `aws-${m[3]}`));
        const { region } = resolveRegion({ flag: values.region, arn: execution, cdkJson: cdkJsonRegion });
        const { fetched, files } = await writeExecutionReport(deps.clients(region), execution, dir);
        const missing = fetched.sources.entries.filter((e) => e.missing);
        deps.log(`execution ${execution}: ${fetched.status.status}`);
        if (fetched.status.status === 'Executing' || fetched.status.status === 'Stopping')
          deps.log('the execution is still running: the report shows what exists now');
        for (const e of missing) deps.log(`missing: ${e.step} ${e.artifact}: ${e.missing}`);
        deps.log(`report: ${files.md}\n        ${files.html}\nslides: ${files.slides}`);
        // The execution's MLflow run, as its jobs named it (the App ARN, the pipeline's experiment, the execution id)
        const link = fetched.mlflow;
        if (link?.runName && link.experimentName) {
          const said = (deps.logToMlflow ?? venvLogToMlflow)(
            { trackingUri: link.resourceArn, experiment: link.experimentName, runName: link.runName },
            [files.md, files.html, files.slides],
          );
          if (said) deps.log(said);
        }
        return 0;
      }
      const runDir = resolve(run!);
      const files = writeReport(runDir, out ? resolve(out) : undefined);
      deps.log(`report: ${files.md}\n        ${files.html}\nslides: ${files.slides}`);
      const local = localReportRun(runDir, collectRun(runDir).state);
      const said = local && (deps.logToMlflow ?? venvLogToMlflow)(local, [files.md, files.html, files.slides]);
      if (said) deps.log(said);
      return 0;
    },
  };
}

export const command: CliCommand = createReportCommand();
