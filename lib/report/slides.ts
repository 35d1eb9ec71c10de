/**
 * slides.html: a self-contained deck. Figures fill the slide below its heading; the examples slide shows real
 * prompts with both models' answers side by side; →, Space, PageDown or a click advance, ←, PageUp or a click on
 * the left fifth go back; printing gives one slide per page.
 */
import type { QualitativeExample, ReportData } from './collect.ts';
import { buildSections } from './render.ts';
import { escapeXml as esc } from './svg.ts';

const SLIDE_STYLE = `
html,body{margin:0;height:100%;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#111827}
.slide{display:none;box-sizing:border-box;width:100vw;height:100vh;padding:3vh 5vw;background:#fff;overflow:hidden;cursor:pointer;user-select:none}
.slide.active{display:flex;flex-direction:column}
.slide h1{font-size:2.6rem;margin:.2em 0}.slide h2{font-size:2rem;margin:0 0 .4em;color:#1f3b73}
.slide ul{font-size:1.35rem;line-height:1.5;margin:.2em 0}.slide.figure ul{font-size:1.05rem}
.slide figure{margin:0;flex:1;min-height:0;display:flex;justify-content:center;align-items:center}
.slide figure svg{width:100%;height:100%}
.examples{display:flex;flex-direction:column;gap:1.2vh;font-size:1.05rem;min-height:0}
.example .prompt{font-weight:600;margin-bottom:.3em}.example .answers{display:grid;grid-template-columns:1fr 1fr;gap:1.5vw}
.example .answers div{background:#f3f4f6;border-radius:6px;padding:.4em .6em;overflow-wrap:anywhere}
.example .who{display:block;font-size:.8rem;color:#6b7280;text-transform:uppercase;letter-spacing:.05em}
.footer{margin-top:auto;color:#6b7280;font-size:.9rem;padding-top:.5em}
@media print{@page{size:landscape;margin:0}html,body{background:#fff;height:auto}
.slide{display:flex!important;flex-direction:column;page-break-after:always;break-after:page;height:100vh}}`;

const SLIDE_SCRIPT = `
(function(){var s=document.querySelectorAll('.slide'),i=0;
function show(n){i=Math.max(0,Math.min(s.length-1,n));s.forEach(function(e,j){e.classList.toggle('active',j===i)});
document.title=document.title.replace(/ \\(\\d+\\/\\d+\\)$/,'')+' ('+(i+1)+'/'+s.length+')';}
document.addEventListener('keydown',function(e){if(e.key==='ArrowRight'||e.key===' '||e.key==='PageDown')show(i+1);
else if(e.key==='ArrowLeft'||e.key==='PageUp')show(i-1);else if(e.key==='Home')show(0);else if(e.key==='End')show(s.length-1);});
document.addEventListener('click',function(e){if(e.button===0)show(e.clientX<window.innerWidth/5?i-1:i+1);});
show(0);})();`;

const clip = (t: string, n: number) => (t.length > n ? `${t.slice(0, n - 1)}…` : t);

/** Up to three prompts, each with the base and the tuned answer beside each other. */
export function examplesSlide(examples: readonly QualitativeExample[]): string {
  if (examples.length === 0)
    return '<section class="slide"><h2>Base vs tuned answers</h2><ul><li>Not available in this run</li></ul></section>';
  const shown = examples.slice(0, 3);
  const items = shown
    .map(
      (q) =>
        `<div class="example"><div class="prompt">${esc(clip(q.prompt, 160))}</div><div class="answers">` +
        `<div><span class="who">base</span>${esc(clip(q.base, 220))}</div>` +
        `<div><span class="who">tuned</span>${esc(clip(q.tuned, 220))}</div></div></div>`,
    )
    .join('');
  return (
    `<section class="slide"><h2>Base vs tuned answers</h2><div class="examples">${items}</div>` +
    `<div class="footer">${shown.length} of ${examples.length} fixed prompts, greedy decoding; all in report.html</div></section>`
  );
}

export function renderSlides(d: ReportData): string {
  const sections = buildSections(d);
  const [first, ...rest] = sections;
  const list = (bullets: string[]) =>
    bullets.length ? `<ul>${bullets.map((b) => `<li>${esc(b)}</li>`).join('')}</ul>` : '';
  const slides: string[] = [
    `<section class="slide"><h1>MedLlama: Llama 2 domain adaptation on PubMed Central</h1>${list(first!.bullets)}<div class="footer">→ or click: next · ← or click the left edge: back · print to PDF for a handout</div></section>`,
    `<section class="slide"><h2>Method</h2><ul><li>Ingest: JATS → clean text, license and quality filters</li><li>Dedup: exact + MinHash LSH, stable splits</li><li>Tokenize: the base model's tokenizer, packed blocks</li><li>Train: LoRA / full fine-tune, checkpoints</li><li>Evaluate: perplexity, PubMedQA, general-text regression → quality gate → registry</li></ul></section>`,
  ];
  for (const s of rest) {
    if (s.id === 'examples') {
      slides.push(examplesSlide(d.qualitative));
      continue;
    }
    if (s.figures.length === 0) {
      slides.push(
        `<section class="slide"><h2>${esc(s.title)}</h2>${list(s.bullets) || '<ul><li>Not available in this run</li></ul>'}</section>`,
      );
      continue;
    }
    s.figures.forEach((f, i) => {
      slides.push(
        `<section class="slide figure"><h2>${esc(s.title)}</h2>${i === 0 ? list(s.bullets) : ''}<figure>${f.svg}</figure><div class="footer">${esc(f.caption)}</div></section>`,
      );
    });
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>MedLlama: ${esc(d.state.runId)}</title><style>${SLIDE_STYLE}</style></head>
<body>
${slides.join('\n')}
<script>${SLIDE_SCRIPT}</script>
</body></html>
`;
}
