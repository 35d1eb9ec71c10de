// `medllama report --run <run folder>` or `--execution <ARN>`: report.md, report.html and slides.html.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { arnRegion, sageMakerClient } from '../../aws/clients.ts';
import { type AwsReportClients, EXECUTION_ARN, type FetchResult, fetchExecution } from '../../report/aws.ts';
import { collectRun } from '../../report/collect.ts';
import { renderHtml, renderMarkdown, renderSlides } from '../../report/render.ts';
import { type CliCommand, UsageError } from '../command.ts';

/** Writes the three files into `out` (default: the run folder); returns their paths. */
export function writeReport(runDir: string, out = runDir): { md: string; html: string; slides: string } {
  const data = collectRun(runDir);
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
report there. A running execution gives a partial report that says so; every artifact that could not be
fetched is named with the reason (sources.json).`;

export interface ReportDeps {
  readonly clients: (region: string) => AwsReportClients;
  readonly log: (line: string) => void;
}

const defaultDeps: ReportDeps = {
  clients: (region) => ({
    sagemaker: sageMakerClient({ region }),
    s3: new S3Client({ region, maxAttempts: 4 }),
    cloudwatch: new CloudWatchClient({ region, maxAttempts: 4 }),
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
    async run(argv) {
      let run: string | undefined;
      let execution: string | undefined;
      let out: string | undefined;
      let region: string | undefined;
      for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = () => {
          const v = argv[++i];
          if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
          return v;
        };
        if (flag === '--run') run = value();
        else if (flag === '--execution') execution = value();
        else if (flag === '--out') out = value();
        else if (flag === '--region') region = value();
        else throw new UsageError(`unknown option ${flag}`);
      }
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
        const { fetched, files } = await writeExecutionReport(
          deps.clients(region ?? arnRegion(execution)!),
          execution,
          dir,
        );
        const missing = fetched.sources.entries.filter((e) => e.missing);
        deps.log(`execution ${execution}: ${fetched.status.status}`);
        if (fetched.status.status === 'Executing' || fetched.status.status === 'Stopping')
          deps.log('the execution is still running: the report shows what exists now');
        for (const e of missing) deps.log(`missing: ${e.step} ${e.artifact}: ${e.missing}`);
        deps.log(`report: ${files.md}\n        ${files.html}\nslides: ${files.slides}`);
        return 0;
      }
      const files = writeReport(resolve(run!), out ? resolve(out) : undefined);
      deps.log(`report: ${files.md}\n        ${files.html}\nslides: ${files.slides}`);
      return 0;
    },
  };
}

export const command: CliCommand = createReportCommand();
