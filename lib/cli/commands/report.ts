// `medllama report --run <run folder>`: report.md, report.html and slides.html from one local run.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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

export const command: CliCommand = {
  name: 'report',
  summary: 'Write report.md, report.html and slides.html for a run',
  usage: `usage: medllama report --run <run folder> [--out DIR]

Reads runs/<id>/ (state.json, step logs, the step outputs) and writes report.md, a self-contained
report.html (SVG charts) and slides.html (←/→ to navigate, print to PDF) into the run folder or --out.
(Reports from an AWS execution ARN are not implemented yet.)`,
  async run(argv) {
    let run: string | undefined;
    let out: string | undefined;
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === '--run') run = argv[++i];
      else if (argv[i] === '--out') out = argv[++i];
      else throw new UsageError(`unknown option ${argv[i]}`);
    }
    if (!run) throw new UsageError('--run <run folder> is required');
    if (run.startsWith('arn:'))
      throw new UsageError('reports from an AWS execution ARN are not implemented yet; pass a run folder');
    const files = writeReport(resolve(run), out ? resolve(out) : undefined);
    console.log(`report: ${files.md}\n        ${files.html}\nslides: ${files.slides}`);
    return 0;
  },
};
