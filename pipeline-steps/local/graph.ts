/**
 * Step ordering: a step runs after every step it references (`Get: Steps.<name>…`, also inside
 * `Std:JsonGet` PropertyFiles) and every step in its `DependsOn`. Steps inside a Condition's IfSteps /
 * ElseSteps run inline when the condition does, so their references count as the condition's.
 */
import { stepReferences } from './expressions.ts';
import type { Json, StepDefinition } from './types.ts';

export class DefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DefinitionError';
  }
}

/** The IfSteps and ElseSteps of a Condition step (empty lists for other steps). */
export function branches(step: StepDefinition): { ifSteps: StepDefinition[]; elseSteps: StepDefinition[] } {
  if (step.Type !== 'Condition') return { ifSteps: [], elseSteps: [] };
  const args = step.Arguments ?? {};
  const list = (v: Json | undefined, key: string): StepDefinition[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new DefinitionError(`step ${step.Name}: Arguments.${key} must be a list of steps`);
    return v as unknown as StepDefinition[];
  };
  return { ifSteps: list(args.IfSteps, 'IfSteps'), elseSteps: list(args.ElseSteps, 'ElseSteps') };
}

/** Every step of the definition, nested ones included, with the top-level step that contains it. */
export function allSteps(steps: readonly StepDefinition[]): Map<string, { step: StepDefinition; topLevel: string }> {
  const out = new Map<string, { step: StepDefinition; topLevel: string }>();
  const add = (s: StepDefinition, top: string) => {
    if (!s || typeof s.Name !== 'string' || typeof s.Type !== 'string') {
      throw new DefinitionError(`every step needs a Name and a Type, got ${JSON.stringify(s).slice(0, 200)}`);
    }
    if (out.has(s.Name)) throw new DefinitionError(`step name "${s.Name}" is used more than once`);
    out.set(s.Name, { step: s, topLevel: top });
    const { ifSteps, elseSteps } = branches(s);
    for (const inner of [...ifSteps, ...elseSteps]) add(inner, top);
  };
  for (const s of steps) add(s, s.Name);
  return out;
}

/** The names a step depends on directly (references and DependsOn), itself excluded. */
export function directDependencies(step: StepDefinition): Set<string> {
  const deps = stepReferences(step.Arguments as Json | undefined);
  for (const d of step.DependsOn ?? []) deps.add(d);
  deps.delete(step.Name);
  return deps;
}

/**
 * Orders the top-level steps so that each comes after what it depends on; ties keep definition order.
 * Throws a DefinitionError for unknown step references and cycles (naming the steps on the cycle).
 */
export function orderSteps(steps: readonly StepDefinition[]): StepDefinition[] {
  const every = allSteps(steps);
  const deps = new Map<string, Set<string>>();
  for (const s of steps) {
    const own = new Set<string>();
    const nested = [s, ...[...every.values()].filter((e) => e.topLevel === s.Name && e.step !== s).map((e) => e.step)];
    for (const n of nested) {
      for (const d of directDependencies(n)) {
        const target = every.get(d);
        if (!target) throw new DefinitionError(`step ${n.Name} depends on unknown step "${d}"`);
        if (target.topLevel !== s.Name) own.add(target.topLevel);
      }
    }
    deps.set(s.Name, own);
  }
  const done = new Set<string>();
  const ordered: StepDefinition[] = [];
  while (ordered.length < steps.length) {
    const next = steps.find((s) => !done.has(s.Name) && [...deps.get(s.Name)!].every((d) => done.has(d)));
    if (!next) {
      const left = steps.filter((s) => !done.has(s.Name)).map((s) => s.Name);
      throw new DefinitionError(`the steps form a dependency cycle: ${describeCycle(left, deps)}`);
    }
    done.add(next.Name);
    ordered.push(next);
  }
  return ordered;
}

function describeCycle(left: string[], deps: Map<string, Set<string>>): string {
  // Walk from any remaining step along remaining dependencies until a name repeats.
  const remaining = new Set(left);
  const path: string[] = [];
  let cur = left[0]!;
  while (!path.includes(cur)) {
    path.push(cur);
    cur = [...deps.get(cur)!].find((d) => remaining.has(d)) ?? cur;
  }
  return [...path.slice(path.indexOf(cur)), cur].join(' → ');
}

/** Names of `from` and every top-level step that (transitively) depends on it. */
export function downstreamOf(steps: readonly StepDefinition[], from: string): Set<string> {
  const every = allSteps(steps);
  const start = every.get(from);
  if (!start)
    throw new DefinitionError(`--from-step: no step named "${from}" (steps: ${[...every.keys()].join(', ')})`);
  const out = new Set<string>([start.topLevel]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of steps) {
      if (out.has(s.Name)) continue;
      const nested = [...every.values()].filter((e) => e.topLevel === s.Name).map((e) => e.step);
      const hit = nested.some((n) => [...directDependencies(n)].some((d) => out.has(every.get(d)?.topLevel ?? d)));
      if (hit) {
        out.add(s.Name);
        grew = true;
      }
    }
  }
  return out;
}
