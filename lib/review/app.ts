/**
 * The review logic behind the HTTP layer (also used directly by tests). Every call but enrolment acts for one
 * authenticated reviewer (the owner of the token, see server.ts) and only ever returns that reviewer's own
 * items, ratings and progress; no call lists other reviewers. Answers are "A" and "B"; which model is which
 * stays here (blind.ts). The summary, which names the models, is only served once the study is closed.
 */
import { Blinding } from './blind.ts';
import { type Model, NameTakenError, type ReviewDb, type Reviewer, type Scores, StudyClosedError } from './db.ts';
import type { BootstrapOptions, Preference } from './stats.ts';
import { computeSummary, formatDifference, formatEstimate, smallSampleWarning } from './summary.ts';
import { hashSecret, newSecret, SECRET_PATTERN, sameSecret } from './tokens.ts';
import { HttpError, type Slot, validateEnrol, validateRating } from './validate.ts';

const other = (m: Model): Model => (m === 'base' ? 'tuned' : 'base');

export class ReviewApp {
  private readonly items;
  private readonly index: Map<string, number>;
  private readonly blinding: Blinding;

  constructor(
    private readonly db: ReviewDb,
    /** The secret in the enrolment link; whoever has it may enrol under a new name. */
    private readonly enrolCode: string,
    private readonly summaryOptions: BootstrapOptions = {},
  ) {
    this.items = db.items();
    this.index = new Map(this.items.map((it, i) => [it.id, i]));
    if (this.items.length === 0) throw new Error(`${db.file}: no items to review`);
    this.blinding = new Blinding(db.blindingSeed());
  }

  /** The reviewer who owns this token, or 401. Tokens are looked up by hash, never compared in plain text. */
  authenticate(token: string | undefined): Reviewer {
    if (token === undefined)
      throw new HttpError(401, 'sign in first: open the enrolment link or your personal link from medllama review');
    const reviewer = SECRET_PATTERN.test(token) ? this.db.reviewerByTokenHash(hashSecret(token)) : undefined;
    if (!reviewer)
      throw new HttpError(
        401,
        'this sign-in is not valid (the link was replaced or belongs to another study); ' +
          'ask the study coordinator for a new personal link',
      );
    return reviewer;
  }

  /** Enrols a reviewer under a new name and returns the token the browser keeps. */
  enrol(body: unknown) {
    const input = validateEnrol(body);
    if (!sameSecret(input.code, this.enrolCode))
      throw new HttpError(
        403,
        'this enrolment link is not valid (it changes each time medllama review starts); ask the coordinator for the current one',
      );
    const token = newSecret();
    try {
      const reviewer = this.db.enrolReviewer(input.name, hashSecret(token));
      return { token, ...this.progress(reviewer) };
    } catch (err) {
      if (err instanceof NameTakenError)
        throw new HttpError(
          409,
          `${err.message}. If that is you, ask the study coordinator for your personal link ` +
            '(medllama review --link "<name>"); otherwise choose another name.',
        );
      if (err instanceof StudyClosedError) throw new HttpError(409, `${err.message}; enrolment has ended`);
      throw err;
    }
  }

  progress(reviewer: Reviewer) {
    const rated = this.db.ratedItemIds(reviewer.id);
    const ratedCount = this.items.filter((it) => rated.has(it.id)).length;
    return {
      reviewer: reviewer.name,
      total: this.items.length,
      rated: ratedCount,
      done: ratedCount === this.items.length,
      closed: this.db.closedAt() !== undefined,
    };
  }

  /** Which model this reviewer sees as Answer A: the order stored with an earlier judgement, else the seeded one. */
  private answerA(reviewer: Reviewer, itemId: string): Model {
    return this.db.judgement(reviewer.id, itemId)?.answerA ?? this.blinding.answerA(reviewer.id, itemId);
  }

  /** An item as the browser sees it: A/B answers, the reviewer's earlier rating in A/B terms, no model names. */
  private view(reviewer: Reviewer, position: number) {
    const item = this.items[position];
    const earlier = this.db.judgement(reviewer.id, item.id);
    const aModel = earlier?.answerA ?? this.blinding.answerA(reviewer.id, item.id);
    const answer = (m: Model) => (m === 'base' ? item.baseAnswer : item.tunedAnswer);
    return {
      index: position,
      id: item.id,
      category: item.category,
      prompt: item.prompt,
      answers: { A: answer(aModel), B: answer(other(aModel)) },
      rating: earlier
        ? {
            scores: { A: earlier.scores[aModel], B: earlier.scores[other(aModel)] },
            preference: earlier.preference === 'tie' ? 'tie' : earlier.preference === aModel ? 'A' : 'B',
            comment: earlier.comment,
          }
        : null,
    };
  }

  next(reviewer: Reviewer) {
    const rated = this.db.ratedItemIds(reviewer.id);
    const position = this.items.findIndex((it) => !rated.has(it.id));
    return { ...this.progress(reviewer), item: position < 0 ? null : this.view(reviewer, position) };
  }

  item(reviewer: Reviewer, rawIndex: unknown) {
    const index = typeof rawIndex === 'string' && /^\d+$/.test(rawIndex) ? Number(rawIndex) : Number.NaN;
    if (!Number.isInteger(index) || index < 0 || index >= this.items.length)
      throw new HttpError(400, `index must be a whole number from 0 to ${this.items.length - 1}`);
    return { ...this.progress(reviewer), item: this.view(reviewer, index) };
  }

  rate(reviewer: Reviewer, body: unknown) {
    const input = validateRating(body);
    const position = this.index.get(input.itemId);
    if (position === undefined) throw new HttpError(400, `unknown item ${JSON.stringify(input.itemId)}`);
    const aModel = this.answerA(reviewer, input.itemId);
    const slotModel = (slot: Slot): Model => (slot === 'A' ? aModel : other(aModel));
    const preference: Preference = input.preference === 'tie' ? 'tie' : slotModel(input.preference);
    try {
      const { created } = this.db.saveJudgement({
        reviewerId: reviewer.id,
        itemId: input.itemId,
        answerA: aModel,
        preference,
        comment: input.comment,
        scores: { [aModel]: input.scores.A, [other(aModel)]: input.scores.B } as Record<Model, Scores>,
      });
      return { saved: created ? 'created' : 'updated', index: position, ...this.progress(reviewer) };
    } catch (err) {
      if (err instanceof StudyClosedError) throw new HttpError(409, err.message);
      throw err;
    }
  }

  /**
   * The summary, for an enrolled reviewer, once the study is closed. Not before: while ratings can still change,
   * comparing the counts before and after one throwaway rating would tell which model was which on that item.
   */
  summary(_reviewer: Reviewer) {
    if (this.db.closedAt() === undefined)
      throw new HttpError(
        409,
        'the summary opens when the study coordinator closes the study (medllama review --close); ' +
          'until then it could unblind the ratings',
      );
    const summary = computeSummary(this.db, this.summaryOptions);
    const p = summary.preference;
    // A display table, so the page's own code stays free of model names.
    const table = {
      columns: ['Axis (1–5, 5 = best)', 'base', 'tuned', 'tuned − base'],
      rows: summary.axes.map((a) => [
        summary.axisLabels[a.axis],
        formatEstimate(a.base),
        formatEstimate(a.tuned),
        formatDifference(a.difference),
      ]),
      warning: smallSampleWarning(summary) ?? null,
      notes: [
        `Based on ${summary.items} of ${summary.totalItems} item(s) (n = ${summary.items}), ` +
          `${summary.judgements} judgement(s) by ${summary.reviewers} reviewer(s).`,
        `Preference over ${p.judgements} judgement(s): tuned wins ${p.tunedWins}, ties ${p.ties}, ` +
          `base wins ${p.baseWins}; tuned win rate (tie = ½) ${formatEstimate(p.winRate)}.`,
        `${Math.round(summary.level * 100)}% bootstrap CIs over items (${summary.reps} replicates, seed ${summary.seed}).`,
      ],
    };
    return { summary, table };
  }
}
