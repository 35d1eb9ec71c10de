/**
 * The report's first section, in the order a run report is read: what kind of result this is (a caveat comes
 * first, never last), what was trained on what (base model, data, method), the result with its uncertainty (the
 * gate's checks), then the run's status and where the model went. Details follow in the later sections.
 */
import { describeMlflowRun } from '../cli/mlflow-link.ts';
import type { ReportData } from './collect.ts';
import { gateSentence, readGate, requirement, verdict } from './gate.ts';
import { fmtEstimate, fmtNumber, isObj, num, type Section, section } from './section.ts';

/** The base model the run trained, as Evaluate (evaluation.json models.base.about) or Train
 * (training_summary.json base_model) recorded it (containers/medllama/base_models.py describe_base_model). */
export interface BaseModelInfo {
  readonly name: string;
  readonly source?: string;
  readonly license?: string;
  /** Seeded random weights, never trained on text (the tiny demo model). */
  readonly randomInit: boolean;
}

export function baseModelInfo(d: Pick<ReportData, 'evaluation' | 'trainingSummary'>): BaseModelInfo | undefined {
  const models = d.evaluation?.models;
  const base = isObj(models) ? models.base : undefined;
  const about = isObj(base) ? base.about : undefined;
  const found = about ?? d.trainingSummary?.base_model;
  if (!isObj(found) || typeof found.name !== 'string') return undefined;
  return {
    name: found.name,
    ...(typeof found.source === 'string' ? { source: found.source } : {}),
    ...(typeof found.license === 'string' ? { license: found.license } : {}),
    randomInit: found.random_init === true,
  };
}

/** What kind of evidence this run is, said before any of its numbers. */
export function caveat(d: ReportData): string | undefined {
  const base = baseModelInfo(d);
  if (base?.randomInit)
    return (
      '**A pipeline check, not a medical result.** The base model has seeded random weights and was never trained on ' +
      'text: every answer in this report is noise by construction, and its numbers show that the pipeline works, ' +
      'not medical quality.'
    );
  if (!d.sources && base)
    return (
      `**A small local run.** ${base.name} was adapted for minutes on a small open-license PMC sample: the direction ` +
      'and intervals of its changes are real measurements; their size says little about Llama 2 7B at scale.'
    );
  return undefined;
}

/** "LoRA (rank 8), peak learning rate 0.001, 40 optimizer steps over 81,920 tokens, sequence length 256" */
function method(d: ReportData): string {
  const p = d.state.parameters;
  const t = d.trainingSummary;
  const m = String(t?.method ?? p.Method ?? 'unknown method');
  const name = m === 'lora' ? `LoRA${p.LoraRank !== undefined ? ` (rank ${p.LoraRank})` : ''}` : m;
  const lr = num(t?.learning_rate) ?? (typeof p.LearningRate === 'number' ? p.LearningRate : undefined);
  const steps = num(t?.steps);
  const tokens = num(t?.tokens_seen);
  return [
    name,
    lr === undefined ? '' : `peak learning rate ${fmtNumber(lr)}`,
    steps === undefined
      ? ''
      : `${fmtNumber(steps)} optimizer steps${tokens ? ` over ${fmtNumber(tokens)} tokens` : ''}`,
    p.SeqLen === undefined ? '' : `sequence length ${p.SeqLen}`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** "24 PMC Open Access articles (CC BY, CC0) in the training split" */
function trainingData(d: ReportData): string {
  const splits = isObj(d.dedup?.splits) ? d.dedup.splits : {};
  const train = isObj(splits.train) ? num(splits.train.documents) : undefined;
  const licenses = isObj(d.ingest?.licenses) ? Object.keys(d.ingest.licenses).sort() : [];
  if (train === undefined) return 'PMC Open Access articles (the data reports are not available in this run)';
  return `${fmtNumber(train)} PMC Open Access articles${licenses.length ? ` (${licenses.join(', ')})` : ''} in the training split`;
}

export function summary(d: ReportData): Section {
  const s = section('summary', 'Summary');
  const st = d.state;
  if (d.sources && st.status === 'Executing') {
    s.paragraphs.push(
      '**The execution is still running**: this report shows what existed when it was made; run ' +
        `\`medllama report --execution ${d.sources.executionArn}\` again when it has finished.`,
    );
    s.bullets.push('Execution still running: partial report');
  }
  const first = caveat(d);
  if (first) {
    s.paragraphs.push(first);
    s.bullets.push(first.replace(/\*\*/g, '').split('. ')[0]!);
  }
  const base = baseModelInfo(d);
  if (base) {
    s.paragraphs.push(
      `Base model trained: **${base.name}**` +
        (base.source ? ` (${base.source}${base.license ? `; licence ${base.license}` : ''})` : '') +
        `, fine-tuned on ${trainingData(d)} with ${method(d)}.`,
    );
    s.bullets.push(`Base model: ${base.name}${base.randomInit ? ' (random weights: its answers are noise)' : ''}`);
  } else {
    s.paragraphs.push(
      `The base model is not named in this run (no evaluation.json or training_summary.json); method: ${method(d)}.`,
    );
  }
  const gate = readGate(d.evaluation);
  if (gate) {
    s.paragraphs.push(
      `**Result** (tuned vs base, 95% bootstrap intervals; the gate decides on the conservative bound of each): ` +
        gate.checks
          .map(
            (c) =>
              `${c.name}: ${c.measured ? fmtEstimate(c.measured) : 'not computed'}, ${c.side ?? ''} bound required ${requirement(c)}: ${verdict(c)}`,
          )
          .join('; ') +
        '.',
      `**Quality gate ${gateSentence(gate).replace(/^(\w+)/, '$1**')}.`,
    );
    for (const c of gate.checks)
      s.bullets.push(`${c.name}: ${c.measured ? fmtEstimate(c.measured) : '–'} (${verdict(c)})`);
  } else if (d.evaluation) {
    s.paragraphs.push('evaluation.json has no gate checks (an older schema): see the evaluation section.');
  }
  const outcome = st.steps.QualityGate?.outcome;
  s.paragraphs.push(
    `Run \`${st.runId}\` of pipeline ${st.pipelineName}: ${st.status}` +
      (outcome === undefined
        ? '; the quality gate did not run'
        : `; the QualityGate step ${outcome ? 'passed' : 'failed'}`) +
      '.' +
      (st.failureReason && st.status !== 'Succeeded' && !(gate && st.failureReason.startsWith('QualityGateFailed'))
        ? ` Reason: ${st.failureReason}.`
        : '') +
      (d.registry
        ? ` Registered as ${String(d.registry.ModelPackageGroupName)} version ${String(d.registry.ModelPackageVersion)} ` +
          `with status ${String(d.registry.ModelApprovalStatus)}.`
        : ' The model was not registered.'),
  );
  s.bullets.push(
    `Run ${st.runId}: ${st.status}`,
    outcome === undefined ? 'The quality gate did not run' : `Model ${outcome ? 'passed' : 'failed'} the quality gate`,
  );
  if (d.registry)
    s.bullets.push(
      `Registered: ${String(d.registry.ModelPackageGroupName)} v${String(d.registry.ModelPackageVersion)}`,
    );
  awsSources(d, s);
  mlflowRun(d, s);
  return s;
}

/** Where the run's MLflow tracking is (docs/tracking.md): the local store, or the App, and how to open it. */
function mlflowRun(d: ReportData, s: Section): void {
  const link = d.sources?.mlflow;
  if (link) {
    const { run, open, page } = describeMlflowRun(link);
    s.paragraphs.push(
      `MLflow: ${run} (parameters, loss and throughput per step, the evaluation numbers and files, this report); ` +
        `open it with \`${open}\`${page ? `, then the page \`${page}\`` : ''} (docs/tracking.md).`,
    );
    s.bullets.push(`MLflow: ${run}`);
    return;
  }
  if (!d.mlflowStore) return;
  const ui = `MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri ${d.mlflowStore}`;
  s.paragraphs.push(
    `MLflow: run \`${d.state.runId}\` of experiment \`${d.state.pipelineName}\` (parameters, loss and throughput ` +
      `per step, the evaluation numbers and files) and one run per data step, in \`${d.mlflowStore}\`; ` +
      `open it with \`${ui}\` (docs/tracking.md).`,
  );
  s.bullets.push(`MLflow: ${ui}`);
}

/** Where a report of an AWS execution got its numbers, and which artifacts it could not fetch. */
function awsSources(d: ReportData, s: Section): void {
  const src = d.sources;
  if (!src) return;
  s.paragraphs.push(
    `Fetched from SageMaker pipeline execution \`${src.executionArn}\` (status ${src.executionStatus}): step ` +
      'states and times from the SageMaker API, artifacts from S3, training curves from CloudWatch.',
  );
  const missing = src.entries.filter((e) => e.missing);
  if (!missing.length) return;
  s.paragraphs.push(`${missing.length} artifact(s) could not be fetched; the sections below say which.`);
  s.tables.push({
    head: ['step', 'missing artifact', 'why'],
    rows: missing.map((e) => [
      e.step,
      e.artifact,
      `${e.missing}${e.uri && !e.missing!.includes(e.uri) ? ` (${e.uri})` : ''}`,
    ]),
  });
  s.bullets.push(`Missing: ${missing.map((e) => `${e.step} ${e.artifact}`).join(', ')}`);
}
