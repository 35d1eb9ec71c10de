/**
 * The training section: the run's parameters, training_summary.json's numbers under their names and units, and
 * one chart per kind of curve (loss; throughput; utilisation), each with its own named y axis.
 */
import type { Json } from '../../pipeline-steps/local/types.ts';
import type { ReportData } from './collect.ts';
import { type Cell, fmtNumber, isObj, num, type Section, section } from './section.ts';
import { lineChart, type Series } from './svg.ts';

const PARAMETERS = [
  'Method',
  'SeqLen',
  'LearningRate',
  'Epochs',
  'MaxSteps',
  'TrainTokens',
  'LoraRank',
  'GradientAccumulationSteps',
  'TrainInstanceType',
  'TrainInstanceCount',
];

/** training_summary.json keys shown, with what they are. */
const SUMMARY: readonly (readonly [string, string])[] = [
  ['method', 'method'],
  ['steps', 'optimizer steps run'],
  ['total_steps', 'optimizer steps planned'],
  ['tokens_seen', 'tokens trained on'],
  ['seq_len', 'sequence length (tokens)'],
  ['global_batch_blocks', 'global batch (blocks of one sequence length)'],
  ['learning_rate', 'peak learning rate'],
  ['final_train_loss', 'final training loss (nats per token)'],
  ['final_eval_loss', 'final validation loss (nats per token)'],
  ['final_eval_perplexity', 'final validation perplexity'],
  ['eval_blocks', 'validation blocks in the final evaluation'],
  ['train_time_seconds', 'training time (seconds)'],
  ['tokens_per_second', 'throughput (tokens per second, all GPUs)'],
  ['mfu', 'model FLOPs utilisation (fraction of peak)'],
  ['world_size', 'training processes (GPUs)'],
  ['n_params', 'parameters'],
  ['n_trainable_params', 'trainable parameters'],
];

interface Curve {
  readonly label: string;
  readonly chart: 'loss' | 'throughput' | 'mfu';
  readonly scale?: number;
}

/** Metric lines of the Train log (containers/medllama/metric_definitions.json) that are charted. */
const CURVES: Readonly<Record<string, Curve>> = {
  train_loss: { label: 'training loss', chart: 'loss' },
  eval_loss: { label: 'validation loss', chart: 'loss' },
  tokens_per_second: { label: 'all GPUs', chart: 'throughput' },
  tokens_per_second_per_gpu: { label: 'per GPU', chart: 'throughput' },
  mfu: { label: 'MFU', chart: 'mfu', scale: 100 },
};

const CHARTS = {
  loss: { title: 'Loss', axis: 'cross-entropy loss (nats per token)' },
  throughput: { title: 'Training throughput', axis: 'tokens per second' },
  mfu: { title: 'Model FLOPs utilisation', axis: 'MFU (% of peak)' },
} as const;

const same = (a: Series, b: Series) =>
  a.points.length === b.points.length && a.points.every((p, i) => p[0] === b.points[i]![0] && p[1] === b.points[i]![1]);

/** The charted curves grouped by chart; a per-GPU curve equal to the total (one GPU) is drawn once, not hidden. */
export function trainingCurves(
  d: Pick<ReportData, 'metrics'>,
): { chart: keyof typeof CHARTS; series: Series[]; note?: string }[] {
  const groups = new Map<keyof typeof CHARTS, Series[]>();
  for (const [name, pts] of Object.entries(d.metrics).sort((a, b) => a[0].localeCompare(b[0]))) {
    const curve = CURVES[name];
    if (!curve || pts.length === 0) continue;
    const list = groups.get(curve.chart) ?? [];
    list.push({ name: curve.label, points: pts.map((p) => [p.step, p.value * (curve.scale ?? 1)] as const) });
    groups.set(curve.chart, list);
  }
  return (Object.keys(CHARTS) as (keyof typeof CHARTS)[])
    .filter((c) => groups.has(c))
    .map((chart) => {
      const series = groups.get(chart)!;
      const total = series.find((s) => s.name === 'all GPUs');
      const perGpu = series.find((s) => s.name === 'per GPU');
      if (total && perGpu && same(total, perGpu))
        return {
          chart,
          series: [{ ...total, name: 'all GPUs (= per GPU: one GPU)' }],
          note: 'Per-GPU throughput equals the total (one training process).',
        };
      return { chart, series: chart === 'loss' ? series.reverse() : series };
    });
}

export function training(d: ReportData): Section {
  const s = section('training', 'Training');
  const params = d.state.parameters;
  const rows: Cell[][] = PARAMETERS.filter((k) => params[k] !== undefined).map((k) => [k, String(params[k])]);
  if (rows.length) s.tables.push({ head: ['pipeline parameter', 'value'], rows });
  const summary = d.trainingSummary;
  if (summary) {
    const srows = SUMMARY.filter(([k]) => typeof summary[k] === 'number' || typeof summary[k] === 'string').map(
      ([k, label]): Cell[] => [label, summary[k] as number | string],
    );
    const early = summary.stopped_early;
    if (isObj(early) && typeof early.reason === 'string') srows.push(['stopped early', early.reason]);
    s.tables.push({ head: ['training_summary.json', 'value'], rows: srows });
  } else {
    s.paragraphs.push('training_summary.json is not available in this run.');
  }
  const curves = trainingCurves(d);
  for (const { chart, series, note } of curves) {
    const c = CHARTS[chart];
    s.figures.push({
      svg: lineChart(series, { title: c.title, xLabel: d.metricsSource.xLabel, yLabel: c.axis }),
      caption: `${c.title} from ${d.metricsSource.source}.${note ? ` ${note}` : ''}`,
    });
  }
  const loss = d.metrics.train_loss ?? [];
  if (loss.length) {
    s.bullets.push(
      `Training loss: ${fmtNumber(loss[0]!.value)} → ${fmtNumber(loss[loss.length - 1]!.value)} nats/token over ${loss.length} logged steps`,
    );
  }
  if (!curves.some((c) => c.chart === 'loss')) {
    s.paragraphs.push(
      d.sources
        ? 'No loss curve is available for this execution (see the missing artifacts above).'
        : 'No loss metric lines were found in the Train log.',
    );
  }
  const tps = num(summary?.tokens_per_second);
  if (tps !== undefined) s.bullets.push(`Throughput: ${fmtNumber(tps)} tokens/s`);
  const mix = replayMix(summary?.replay);
  s.paragraphs.push(`${mix}.`);
  s.bullets.push(mix);
  return s;
}

/** The general-replay mix as Train realized it (training_summary.json `replay`), or that there was none. */
export function replayMix(replay: Json | undefined): string {
  const source = isObj(replay) && typeof replay.source === 'string' ? replay.source : '';
  const requested = isObj(replay) ? num(replay.fraction) : undefined;
  const read = isObj(replay) ? num(replay.blocks_read) : undefined;
  const replayed = isObj(replay) ? num(replay.replay_blocks_read) : undefined;
  if (!source || !requested || read === undefined || replayed === undefined) {
    return 'General replay: none (trained on PMC text only; ReplayDataUri was empty or ReplayFraction 0)';
  }
  const pct = (v: number) => `${fmtNumber(100 * v)} %`;
  return (
    `General replay: ${pct(requested)} requested from ${source}; realized ${pct(replayed / Math.max(read, 1))} ` +
    `(${replayed} of the ${read} blocks the steps read)`
  );
}
