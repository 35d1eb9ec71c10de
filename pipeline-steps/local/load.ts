/**
 * Where the runner gets its definition: a definition JSON file, or a synthesized CloudFormation template
 * (or a cdk.out folder) holding an `AWS::SageMaker::Pipeline` whose `PipelineDefinitionBody` is a string,
 * an `Fn::Join` or an `Fn::Sub`. CloudFormation tokens become local stand-ins: `Ref X` → `ref-x` (lower
 * case, so a bucket Ref reads as a bucket name the local S3 maps), `Fn::GetAtt [X, Attr]` → `x-attr`,
 * pseudo parameters → `us-east-1` / `000000000000` / `aws`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DefinitionError } from './graph.ts';
import type { Json, JsonObject, PipelineDefinition } from './types.ts';

const PSEUDO: Record<string, string> = {
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '000000000000',
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'local-stack',
  'AWS::NoValue': '',
};

function bucketish(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 63);
}

/** A string for one CloudFormation intrinsic (or literal) inside the definition body. */
export function intrinsicToString(v: Json): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    if (typeof v.Ref === 'string') return PSEUDO[v.Ref] ?? bucketish(`ref-${v.Ref}`);
    const getAtt = v['Fn::GetAtt'];
    if (getAtt !== undefined) {
      const [res, attr] = Array.isArray(getAtt) ? getAtt.map(String) : String(getAtt).split('.');
      return bucketish(`${res}-${attr}`);
    }
    const join = v['Fn::Join'];
    if (Array.isArray(join) && join.length === 2 && Array.isArray(join[1])) {
      return join[1].map(intrinsicToString).join(String(join[0]));
    }
    const sub = v['Fn::Sub'];
    if (sub !== undefined) {
      const [text, vars] = Array.isArray(sub) ? [String(sub[0]), (sub[1] ?? {}) as JsonObject] : [String(sub), {}];
      return text.replace(/\$\{([^}!][^}]*)\}/g, (_m, name: string) => {
        if (Object.hasOwn(vars, name)) return intrinsicToString(vars[name]!);
        if (PSEUDO[name] !== undefined) return PSEUDO[name];
        if (name.includes('.')) return bucketish(name.replace('.', '-'));
        return bucketish(`ref-${name}`);
      });
    }
    const select = v['Fn::Select'];
    if (Array.isArray(select) && select.length === 2) {
      const list = select[1];
      if (Array.isArray(list)) return intrinsicToString(list[Number(select[0])] ?? '');
    }
  }
  throw new DefinitionError(`cannot turn ${JSON.stringify(v).slice(0, 200)} into a local value`);
}

/** The pipeline definitions in a CloudFormation template, by logical id. */
export function definitionsFromTemplate(template: JsonObject): Map<string, PipelineDefinition> {
  const out = new Map<string, PipelineDefinition>();
  const resources = (template.Resources ?? {}) as JsonObject;
  for (const [id, raw] of Object.entries(resources)) {
    const res = raw as JsonObject;
    if (res.Type !== 'AWS::SageMaker::Pipeline') continue;
    const props = (res.Properties ?? {}) as JsonObject;
    const def = (props.PipelineDefinition ?? {}) as JsonObject;
    const body = def.PipelineDefinitionBody;
    if (body === undefined) {
      throw new DefinitionError(`${id}: only PipelineDefinitionBody is supported (not PipelineDefinitionS3Location)`);
    }
    const text = intrinsicToString(body);
    try {
      out.set(id, JSON.parse(text) as PipelineDefinition);
    } catch (e) {
      throw new DefinitionError(`${id}: PipelineDefinitionBody is not JSON: ${(e as Error).message}`);
    }
  }
  return out;
}

/**
 * Loads a definition from a definition JSON file, a template JSON file or a cdk.out folder (every
 * `*.template.json`). Exactly one pipeline must be found.
 */
export function loadDefinition(path: string): PipelineDefinition {
  if (!existsSync(path)) throw new DefinitionError(`${path} does not exist`);
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => f.endsWith('.template.json'))
        .sort()
        .map((f) => join(path, f))
    : [path];
  const found: [string, PipelineDefinition][] = [];
  for (const file of files) {
    const json = JSON.parse(readFileSync(file, 'utf8')) as JsonObject;
    if (Array.isArray(json.Steps)) found.push([file, json as unknown as PipelineDefinition]);
    else if (json.Resources) for (const [id, d] of definitionsFromTemplate(json)) found.push([`${file}#${id}`, d]);
  }
  if (found.length === 0) throw new DefinitionError(`no pipeline definition in ${path}`);
  if (found.length > 1) {
    throw new DefinitionError(`more than one pipeline in ${path}: ${found.map(([f]) => f).join(', ')}; name one file`);
  }
  return found[0]![1];
}
