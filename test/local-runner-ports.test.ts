/**
 * Two local Training jobs at once (two demos, or the test files that run pipelines in parallel): on SageMaker each
 * has a host of its own; here they share the loopback, and torchrun, which the training toolkit starts without a
 * --master_port, would take 29500 in both, so the second failed with EADDRINUSE. The runner gives each job a free
 * rendezvous port.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../pipeline-steps/local/runner.ts';
import { oneTrainingJob, oneTrainingJobMounts, VENV_PYTHON } from './support/training-job.ts';

const work = mkdtempSync(join(tmpdir(), 'medllama-ports-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const findFile = (dir: string, name: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(name))
    .map((f) => join(dir, f));

const definition = oneTrainingJob({
  program: 'port_step.py',
  hyperParameters: { sagemaker_torch_distributed_enabled: 'true' },
});

describe('local Training jobs running at the same time', () => {
  it('each torchrun gets its own rendezvous port, so both jobs succeed', async () => {
    const mounts = oneTrainingJobMounts(work);
    const run = (runId: string) =>
      runPipeline({
        definition,
        runsDir: join(work, 'runs'),
        runId,
        python: VENV_PYTHON,
        mounts,
      });
    const results = await Promise.all([run('a'), run('b')]);
    const ports = results.map(({ state, runDir }) => {
      expect(state.steps.Train?.state, state.steps.Train?.failureReason).toBe('Succeeded');
      const log = readFileSync(join(runDir, 'logs', 'Train.log'), 'utf8');
      expect(log).toMatch(/torchrun --nnodes 1 --nproc_per_node 1 port_step\.py/); // through the toolkit's torchrun
      const saved = findFile(runDir, 'port.txt');
      expect(saved).toHaveLength(1); // the model, uploaded to the (local) S3 output path
      return readFileSync(saved[0]!, 'utf8');
    });
    expect(new Set(ports).size).toBe(2);
    expect(ports).not.toContain('29500');
  }, 120_000);
});
