/**
 * The review page: one self-contained HTML document (inline CSS and JS, no external assets). It only knows
 * "Answer A" and "Answer B"; the server keeps which model is which. The summary table, shown after the last
 * item once the study is closed, is rendered from columns and rows the server sends, so nothing here names a
 * model. The reviewer's token comes from the enrolment response or a personal link's fragment and is kept in
 * localStorage; the Content-Security-Policy admits this one script by its hash.
 */
import { createHash } from 'node:crypto';
import { AXES } from './axes.ts';
import { MAX_COMMENT, MAX_NAME } from './limits.ts';

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function axisFieldset(slot: 'A' | 'B', axisIndex: number): string {
  const axis = AXES[axisIndex];
  const id = `${slot}-${axis.key}`;
  const options = axis.anchors
    .map((anchor, i) => {
      const v = i + 1;
      return (
        `<label class="opt" title="${v} = ${esc(anchor)}"><input type="radio" name="${id}" value="${v}">` +
        `<span class="n">${v}</span><span class="t">${esc(anchor)}</span></label>`
      );
    })
    .join('');
  return (
    `<fieldset class="axis" id="fs-${id}" data-slot="${slot}" data-axis="${axis.key}" ` +
    `data-label="${esc(axis.label)}" aria-describedby="q-${axis.key}">` +
    `<legend>${esc(axis.label)}<span class="sr"> for Answer ${slot}</span></legend>` +
    `<div class="scale">${options}</div></fieldset>`
  );
}

function ratingsColumn(slot: 'A' | 'B'): string {
  return (
    `<div class="ratings ratings-${slot}" role="group" aria-label="Ratings for Answer ${slot}">` +
    `${AXES.map((_, i) => axisFieldset(slot, i)).join('')}</div>`
  );
}

const guide = AXES.map(
  (a) =>
    `<tr><th scope="row">${esc(a.label)}</th><td>${esc(a.question)}</td><td>${a.anchors
      .map((t, i) => `<b>${i + 1}</b>&nbsp;${esc(t)}`)
      .join(' · ')}</td></tr>`,
).join('');

const questions = AXES.map((a) => `<p class="sr" id="q-${a.key}">${esc(a.question)}</p>`).join('');

const CSS = `
:root { --ink: #1c2330; --muted: #5b6577; --line: #d5dbe5; --bg: #f5f7fa; --card: #fff; --accent: #1f5fbf;
  --accent-weak: #e3ecfa; --bad: #b42318; --bad-weak: #fdecea; --ok: #146c43; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { font-size: 16px; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: var(--bg); line-height: 1.45; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
header.bar { display: flex; align-items: center; gap: 1.25rem; padding: .55rem 1.25rem; background: var(--card);
  border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
header.bar h1 { font-size: 1.05rem; margin: 0; font-weight: 650; }
header .who { color: var(--muted); font-size: .92rem; }
header .progress { margin-left: auto; display: flex; align-items: center; gap: .6rem; font-variant-numeric: tabular-nums;
  font-weight: 600; }
progress { width: 10rem; height: .6rem; accent-color: var(--accent); }
main { max-width: 1400px; margin: 0 auto; padding: 1rem 1.25rem 2rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.25rem; }
h2 { font-size: 1.05rem; margin: 0 0 .4rem; }
button { font: inherit; border-radius: 8px; border: 1px solid var(--line); background: var(--card); color: var(--ink);
  padding: .5rem 1rem; cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
button.link { border: none; background: none; color: var(--accent); padding: 0 .2rem; text-decoration: underline; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
input[type=text], textarea { font: inherit; width: 100%; padding: .5rem .6rem; border: 1px solid #aab3c2; border-radius: 8px; }
.error { color: var(--bad); font-weight: 600; margin: .5rem 0 0; white-space: pre-line; }
.error:empty { display: none; }
.notice { color: var(--ok); font-weight: 600; }
.warn { background: var(--bad-weak); border-left: 4px solid var(--bad); padding: .5rem .75rem; font-weight: 600; }
.start { max-width: 60rem; margin: 1.5rem auto; }
.start form { display: flex; gap: .75rem; align-items: end; margin: 1rem 0; }
.start form > div { flex: 1; }
.start label { display: block; font-weight: 600; margin-bottom: .25rem; }
table.guide { border-collapse: collapse; font-size: .9rem; width: 100%; }
table.guide th, table.guide td { border-top: 1px solid var(--line); padding: .4rem .5rem; text-align: left; vertical-align: top; }
.prompt .meta { display: flex; gap: .75rem; align-items: center; color: var(--muted); font-size: .9rem; }
.tag { background: var(--accent-weak); color: var(--accent); border-radius: 999px; padding: .05rem .6rem; font-weight: 600; }
.prompt-text { font-family: Georgia, "Times New Roman", serif; font-size: 1.08rem; line-height: 1.55;
  white-space: pre-wrap; margin: .25rem 0 0; max-height: 22vh; overflow: auto; }
.pair { display: grid; grid-template-columns: 1fr 1fr; column-gap: 1.25rem; row-gap: .6rem; margin-top: .9rem; }
.answer-card { grid-row: 1; }
.answer-card.A, .ratings-A { grid-column: 1; }
.answer-card.B, .ratings-B { grid-column: 2; }
.ratings { grid-row: 2; display: grid; gap: .35rem; align-content: start; }
.answer-card h3 { margin: 0 0 .35rem; font-size: 1rem; }
.answer { font-family: Georgia, "Times New Roman", serif; font-size: 1.02rem; line-height: 1.6; white-space: pre-wrap;
  max-height: 34vh; min-height: 5rem; overflow: auto; padding-right: .4rem; max-width: 75ch; }
.answer:empty::before { content: "(empty answer)"; color: var(--muted); font-style: italic; }
fieldset { border: 1px solid var(--line); border-radius: 10px; margin: 0; padding: .15rem .5rem .4rem; background: var(--card); }
fieldset.invalid { border-color: var(--bad); background: var(--bad-weak); }
legend { font-weight: 650; font-size: .92rem; padding: 0 .3rem; }
.scale { display: grid; grid-template-columns: repeat(5, 1fr); gap: .3rem; }
.opt { position: relative; display: flex; flex-direction: column; align-items: center; text-align: center; gap: .05rem;
  border: 1px solid #c3cad6; border-radius: 8px; padding: .1rem .25rem .2rem; cursor: pointer; min-height: 2.7rem; }
.opt input { position: absolute; opacity: 0; inset: 0; margin: 0; cursor: pointer; }
.opt .n { font-weight: 700; font-size: .95rem; line-height: 1.2; }
.opt .t { font-size: .74rem; line-height: 1.15; color: var(--muted); }
.opt:hover { border-color: var(--accent); }
.opt:has(input:checked) { background: var(--accent); border-color: var(--accent); }
.opt:has(input:checked) .n, .opt:has(input:checked) .t { color: #fff; }
.opt:has(input:focus-visible) { outline: 3px solid #f59e0b; outline-offset: 2px; }
.final { display: grid; grid-template-columns: minmax(18rem, 1fr) 2fr; gap: 1.25rem; margin-top: .9rem; align-items: start; }
.pref .scale { grid-template-columns: repeat(3, 1fr); }
.pref .opt { min-height: 2.4rem; justify-content: center; }
.pref .opt .t { font-size: .9rem; color: var(--ink); }
.comment label { display: block; font-weight: 650; font-size: .92rem; margin-bottom: .25rem; }
.actions { display: flex; gap: .75rem; align-items: center; margin-top: .9rem; flex-wrap: wrap; }
.actions .hint { color: var(--muted); font-size: .85rem; margin-left: auto; }
table.summary { border-collapse: collapse; margin: .75rem 0; font-variant-numeric: tabular-nums; }
table.summary th, table.summary td { border-bottom: 1px solid var(--line); padding: .35rem .8rem; text-align: left; }
kbd { border: 1px solid #aab3c2; border-bottom-width: 2px; border-radius: 4px; padding: 0 .3rem; font-size: .85em; background: #fff; }
@media (max-width: 900px) { .pair, .final { grid-template-columns: 1fr; }
  .answer-card.A, .ratings-A, .answer-card.B, .ratings-B { grid-column: 1; grid-row: auto; } }
`;

const JS = `
'use strict';
const $ = (s) => document.querySelector(s);
// The reviewer's secret token. localStorage is private to this origin (scheme, host and port), unlike cookies,
// which every other server on 127.0.0.1 would receive.
const TOKEN_KEY = 'medllama-review-token';
const state = { token: null, enrolCode: null, item: null, total: 0, rated: 0, closed: false };
const sections = ['start', 'review', 'done'];
function show(id) { for (const s of sections) $('#' + s).hidden = s !== id; }
function saveToken(t) {
  state.token = t;
  try { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage may be disabled */ }
}
function storedToken() { try { return localStorage.getItem(TOKEN_KEY); } catch (e) { return null; } }
async function api(path, init) {
  const opts = Object.assign({}, init || {});
  opts.headers = Object.assign({}, opts.headers || {});
  if (state.token) opts.headers.Authorization = 'Bearer ' + state.token;
  let res;
  try { res = await fetch(path, opts); } catch (e) { throw new Error('cannot reach the review server: is medllama review still running?'); }
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  const message = (body && body.error) || ('request failed with HTTP ' + res.status);
  if (res.status === 401) { signedOut(message); throw new Error(message); }
  if (!res.ok) throw new Error(message);
  return body;
}
function setProgress(p) {
  state.total = p.total; state.rated = p.rated; state.closed = !!p.closed;
  $('#progress-text').textContent = p.rated + ' / ' + p.total;
  $('#progress-bar').max = p.total; $('#progress-bar').value = p.rated;
  $('#who-name').textContent = p.reviewer;
  $('#who').hidden = false;
  $('#progress').hidden = false;
}
function showStart(message) {
  $('#who').hidden = true; $('#progress').hidden = true;
  $('#start-form').hidden = !state.enrolCode;
  $('#signin-hint').hidden = !!state.enrolCode;
  $('#start-error').textContent = message || '';
  show('start');
  if (state.enrolCode) $('#name').focus();
}
function signedOut(message) { saveToken(null); state.item = null; showStart(message); }
function clearErrors() {
  $('#form-error').textContent = '';
  for (const fs of document.querySelectorAll('fieldset.invalid')) { fs.classList.remove('invalid'); fs.removeAttribute('aria-invalid'); }
}
function fill(item) {
  state.item = item;
  clearErrors();
  $('#saved').textContent = '';
  $('#item-pos').textContent = 'Item ' + (item.index + 1) + ' of ' + state.total;
  $('#category').textContent = item.category || 'uncategorised';
  $('#item-status').textContent = state.closed ? 'the study is closed: ratings can no longer change'
    : item.rating ? 'already rated: you may change your rating' : '';
  $('#prompt').textContent = item.prompt;
  $('#answer-A').textContent = item.answers.A;
  $('#answer-B').textContent = item.answers.B;
  $('#answer-A').scrollTop = 0; $('#answer-B').scrollTop = 0;
  for (const input of document.querySelectorAll('#rate-form input[type=radio]')) input.checked = false;
  $('#comment').value = '';
  if (item.rating) {
    for (const slot of ['A', 'B']) for (const [axis, v] of Object.entries(item.rating.scores[slot])) {
      const el = document.querySelector('input[name="' + slot + '-' + axis + '"][value="' + v + '"]');
      if (el) el.checked = true;
    }
    const p = document.querySelector('input[name="preference"][value="' + item.rating.preference + '"]');
    if (p) p.checked = true;
    $('#comment').value = item.rating.comment;
  }
  $('#prev').disabled = item.index === 0;
  $('#skip').disabled = item.index >= state.total - 1;
  show('review');
  window.scrollTo(0, 0);
  const first = document.querySelector('#rate-form fieldset.axis input');
  if (first) first.focus({ preventScroll: true });
}
async function loadNext() {
  const r = await api('/api/next');
  setProgress(r);
  if (r.item) fill(r.item); else await showDone();
}
async function loadIndex(i) {
  const r = await api('/api/item?index=' + i);
  setProgress(r); fill(r.item);
}
function escapeHtml(s) { return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]); }
async function showDone() {
  show('done');
  $('#done-title').textContent = 'All ' + state.total + ' items rated. Thank you!';
  $('#done-title').focus();
  if (!state.closed) {
    $('#summary').textContent = 'The summary of all ratings opens here once the study coordinator closes the study.';
    return;
  }
  try {
    const r = await api('/api/summary');
    const t = r.table;
    const head = '<tr>' + t.columns.map((c) => '<th scope="col">' + escapeHtml(c) + '</th>').join('') + '</tr>';
    const rows = t.rows.map((row) => '<tr>' + row.map((c, i) => (i === 0 ? '<th scope="row">' : '<td>') + escapeHtml(c) + (i === 0 ? '</th>' : '</td>')).join('') + '</tr>').join('');
    $('#summary').innerHTML = (t.warning ? '<p class="warn" role="note">' + escapeHtml(t.warning) + '</p>' : '') +
      '<table class="summary"><caption class="sr">Summary of all ratings</caption>' + head + rows + '</table>' +
      t.notes.map((n) => '<p>' + escapeHtml(n) + '</p>').join('');
  } catch (e) { $('#summary').textContent = e.message; }
}
function collect() {
  const scores = { A: {}, B: {} };
  const missing = { A: [], B: [] };
  let firstMissing = null;
  for (const fs of document.querySelectorAll('#rate-form fieldset.axis')) {
    const checked = fs.querySelector('input:checked');
    if (checked) scores[fs.dataset.slot][fs.dataset.axis] = Number(checked.value);
    else {
      missing[fs.dataset.slot].push(fs.dataset.label);
      fs.classList.add('invalid'); fs.setAttribute('aria-invalid', 'true');
      if (!firstMissing) firstMissing = fs;
    }
  }
  const pref = document.querySelector('input[name="preference"]:checked');
  const lines = [];
  for (const slot of ['A', 'B']) if (missing[slot].length) lines.push('Answer ' + slot + ': rate ' + missing[slot].join(', ') + '.');
  if (!pref) {
    const fs = $('#fs-preference'); fs.classList.add('invalid'); fs.setAttribute('aria-invalid', 'true');
    if (!firstMissing) firstMissing = fs;
    lines.push('Choose which answer is better overall (or a tie).');
  }
  if (lines.length) return { error: 'Every axis for both answers is required before saving.\\n' + lines.join('\\n'), focus: firstMissing };
  return { body: { itemId: state.item.id, scores, preference: pref.value, comment: $('#comment').value } };
}
let saving = false;
async function submitRating() {
  if (saving || !state.item) return;
  clearErrors();
  const c = collect();
  if (c.error) {
    $('#form-error').textContent = c.error;
    const target = c.focus.querySelector('input:checked') || c.focus.querySelector('input');
    if (target) target.focus();
    return;
  }
  saving = true; $('#save').disabled = true;
  try {
    const r = await api('/api/ratings', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(c.body) });
    setProgress(r);
    await loadNext();
    $('#saved').textContent = 'Saved (' + r.saved + ').';
  } catch (e) { $('#form-error').textContent = e.message; }
  finally { saving = false; $('#save').disabled = false; }
}
function groups() { return [...document.querySelectorAll('#rate-form fieldset.axis, #fs-preference')]; }
function focusGroup(fs) { const t = fs.querySelector('input:checked') || fs.querySelector('input'); if (t) t.focus(); }
document.addEventListener('keydown', (e) => {
  if ($('#review').hidden || e.ctrlKey && e.key !== 'Enter' || e.metaKey && e.key !== 'Enter' || e.altKey) return;
  const t = e.target;
  const fs = t && t.closest ? t.closest('fieldset.axis') : null;
  if (fs && /^[1-5]$/.test(e.key)) {
    e.preventDefault();
    const input = fs.querySelector('input[value="' + e.key + '"]');
    input.checked = true;
    fs.classList.remove('invalid'); fs.removeAttribute('aria-invalid');
    const all = groups();
    const next = all[all.indexOf(fs) + 1];
    if (next) focusGroup(next); else input.focus();
    return;
  }
  if (e.key === 'Enter' && !e.shiftKey) {
    if (t && t.tagName === 'BUTTON') return;
    if (t && t.tagName === 'TEXTAREA' && !(e.ctrlKey || e.metaKey)) return;
    e.preventDefault();
    submitRating();
  }
});
document.addEventListener('change', (e) => {
  const fs = e.target.closest && e.target.closest('fieldset');
  if (fs) { fs.classList.remove('invalid'); fs.removeAttribute('aria-invalid'); }
});
$('#rate-form').addEventListener('submit', (e) => { e.preventDefault(); submitRating(); });
$('#prev').addEventListener('click', () => loadIndex(state.item.index - 1).catch((e) => { $('#form-error').textContent = e.message; }));
$('#skip').addEventListener('click', () => loadIndex(state.item.index + 1).catch((e) => { $('#form-error').textContent = e.message; }));
$('#again').addEventListener('click', () => loadIndex(0).catch((e) => { $('#summary').textContent = e.message; }));
$('#signout').addEventListener('click', () => {
  if (!confirm('Sign out of this browser? To continue later you will need a personal link from the study coordinator.')) return;
  signedOut('Signed out.');
});
$('#start-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $('#name').value.trim().replace(/\\s+/g, ' ');
  $('#start-error').textContent = '';
  if (!name) { $('#start-error').textContent = 'Please enter your name.'; $('#name').focus(); return; }
  if ([...name].length > ${MAX_NAME}) { $('#start-error').textContent = 'Please use at most ${MAX_NAME} characters.'; $('#name').focus(); return; }
  try {
    const r = await api('/api/enrol', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: state.enrolCode, name }) });
    saveToken(r.token);
    await loadNext();
  } catch (err) { if (state.token) signedOut(err.message); else { $('#start-error').textContent = err.message; $('#name').focus(); } }
});
// Links carry their secret in the fragment (never sent to a server); take it and clear the address bar. A link
// pasted into a tab that already shows the app only changes the fragment, hence the hashchange listener.
function start() {
  const link = new URLSearchParams(location.hash.slice(1));
  if (link.get('enrol')) state.enrolCode = link.get('enrol');
  if (link.get('login')) saveToken(link.get('login'));
  if (location.hash) history.replaceState(null, '', location.pathname);
  state.token = state.token || storedToken();
  if (state.token) loadNext().catch((e) => { if (state.token) showStart(e.message); });
  else showStart();
}
window.addEventListener('hashchange', start);
try { localStorage.removeItem('medllama-reviewer'); } catch (e) { /* a name remembered by an older version */ }
start();
`;

/** The complete page, and the CSP hash of its one script (so no other script may run). */
export function renderPage(): { html: string; scriptHash: string } {
  return { html: html(), scriptHash: `sha256-${createHash('sha256').update(JS).digest('base64')}` };
}

function html(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MedLlama expert review</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<header class="bar">
  <h1>MedLlama expert review</h1>
  <div class="who" id="who" hidden>Reviewer: <b id="who-name"></b> <button type="button" class="link" id="signout">sign out</button></div>
  <div class="progress" id="progress" hidden aria-live="polite"><span class="sr">Items rated:</span><span id="progress-text"></span><progress id="progress-bar" max="1" value="0" aria-label="Items rated"></progress></div>
</header>
<main>
<section id="start" class="start card" aria-labelledby="start-title">
  <h2 id="start-title">Start or continue a review session</h2>
  <p>For each prompt you will see two answers, <b>Answer A</b> and <b>Answer B</b>, written by two language models.
  Which model wrote which answer is hidden and the order is shuffled per prompt. Rate each answer on the six axes
  below (<b>5 is always best</b>), choose the better answer overall and, if you like, add a comment.
  Every item is saved when you submit it; this browser remembers you, so you can close it and continue later.</p>
  <p id="signin-hint" class="notice" hidden>To start, open the enrolment link printed by <code>medllama review</code>,
  or the personal link your study coordinator gave you.</p>
  <form id="start-form" novalidate hidden>
    <div><label for="name">Your name</label><input type="text" id="name" name="name" maxlength="${MAX_NAME}" autocomplete="name" required aria-describedby="start-error"></div>
    <button type="submit" class="primary">Start reviewing</button>
  </form>
  <p id="start-error" class="error" role="alert"></p>
  <h2>Rating guide</h2>
  <table class="guide"><thead><tr><th scope="col">Axis</th><th scope="col">Question</th><th scope="col">Anchors (1 worst … 5 best)</th></tr></thead><tbody>${guide}</tbody></table>
  <p>Keyboard: <kbd>Tab</kbd> moves between rating rows, <kbd>1</kbd>–<kbd>5</kbd> rates the focused row and moves on,
  arrow keys move within a row, <kbd>Enter</kbd> saves the item (<kbd>Ctrl</kbd>+<kbd>Enter</kbd> inside the comment).</p>
</section>
<section id="review" hidden aria-label="Rate one item">
  <form id="rate-form" novalidate>
    <div class="prompt card">
      <div class="meta"><span id="item-pos">Item</span><span class="tag" id="category"></span><span id="item-status"></span></div>
      <h2 id="prompt-title">Prompt</h2>
      <div id="prompt" class="prompt-text" aria-labelledby="prompt-title"></div>
    </div>
    ${questions}
    <div class="pair">
      <section class="answer-card A card" aria-labelledby="answer-A-title"><h3 id="answer-A-title">Answer A</h3><div class="answer" id="answer-A" tabindex="0" role="region" aria-labelledby="answer-A-title"></div></section>
      ${ratingsColumn('A')}
      <section class="answer-card B card" aria-labelledby="answer-B-title"><h3 id="answer-B-title">Answer B</h3><div class="answer" id="answer-B" tabindex="0" role="region" aria-labelledby="answer-B-title"></div></section>
      ${ratingsColumn('B')}
    </div>
    <div class="final">
      <fieldset class="pref" id="fs-preference"><legend>Overall, which answer is better?</legend><div class="scale">
        <label class="opt"><input type="radio" name="preference" value="A"><span class="t">Answer A</span></label>
        <label class="opt"><input type="radio" name="preference" value="tie"><span class="t">Tie / equal</span></label>
        <label class="opt"><input type="radio" name="preference" value="B"><span class="t">Answer B</span></label>
      </div></fieldset>
      <div class="comment"><label for="comment">Comment (optional): errors, omissions, harm, anything notable</label>
        <textarea id="comment" name="comment" rows="3" maxlength="${MAX_COMMENT}"></textarea></div>
    </div>
    <p id="form-error" class="error" role="alert"></p>
    <div class="actions">
      <button type="button" id="prev">← Previous item</button>
      <button type="submit" class="primary" id="save">Save and continue</button>
      <button type="button" id="skip">Next item →</button>
      <span id="saved" class="notice" role="status"></span>
      <span class="hint"><kbd>1</kbd>–<kbd>5</kbd> rate the focused row · <kbd>Enter</kbd> save</span>
    </div>
  </form>
</section>
<section id="done" class="card" hidden aria-labelledby="done-title">
  <h2 id="done-title" tabindex="-1">All items rated</h2>
  <p>Your ratings are saved. Until the study is closed you can revisit any item; saving it again replaces your
  earlier rating.</p>
  <div id="summary" aria-live="polite"></div>
  <button type="button" id="again">Revisit item 1</button>
</section>
</main>
<script>${JS}</script>
</body>
</html>
`;
}
