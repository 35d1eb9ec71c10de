import {
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  ListEndpointsCommand,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { type SageMakerLike, sageMakerClient } from '../../aws/clients.ts';
import { resolveRegion } from '../../aws/region.ts';
import type { CliCommand } from '../command.ts';
import { cdkJsonRegion } from '../deploy-config.ts';
import { parseOptions, regionOption } from '../options.ts';

const usage = `usage: medllama endpoints [--name-prefix PREFIX] [--region REGION]

Lists the MedLlama real-time endpoints: status, instance type and count, the model (package version) each
serves, and when it last changed.`;

const options = [
  {
    name: 'name-prefix',
    value: 'PREFIX',
    description: 'endpoints whose name contains PREFIX',
    default: 'medllama',
  },
  regionOption(),
] as const;

export interface EndpointRow {
  readonly name: string;
  readonly status: string;
  readonly instance: string;
  readonly count: string;
  readonly model: string;
  readonly updated: string;
  readonly failure?: string;
}

export async function listEndpoints(client: Pick<SageMakerClient, 'send'>, prefix: string): Promise<EndpointRow[]> {
  const rows: EndpointRow[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListEndpointsCommand({ NameContains: prefix, NextToken: token, SortBy: 'Name' }),
    );
    for (const summary of page.Endpoints ?? []) {
      const endpoint = await client.send(new DescribeEndpointCommand({ EndpointName: summary.EndpointName }));
      const config = await client.send(
        new DescribeEndpointConfigCommand({ EndpointConfigName: endpoint.EndpointConfigName }),
      );
      const variant = config.ProductionVariants?.[0];
      const live = endpoint.ProductionVariants?.[0];
      rows.push({
        name: summary.EndpointName ?? '',
        status: endpoint.EndpointStatus ?? 'Unknown',
        instance: variant?.InstanceType ?? '-',
        count: String(live?.CurrentInstanceCount ?? variant?.InitialInstanceCount ?? '-'),
        model: variant?.ModelName ?? '-',
        updated: endpoint.LastModifiedTime?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '-',
        ...(endpoint.FailureReason ? { failure: endpoint.FailureReason } : {}),
      });
    }
    token = page.NextToken;
  } while (token);
  return rows;
}

export function formatTable(rows: EndpointRow[]): string {
  if (!rows.length) return 'no endpoints found';
  const header = ['ENDPOINT', 'STATUS', 'INSTANCE', 'COUNT', 'MODEL', 'UPDATED'];
  const cells = rows.map((r) => [r.name, r.status, r.instance, r.count, r.model, r.updated]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const failures = rows.filter((r) => r.failure).map((r) => `${r.name}: ${r.failure}`);
  return [line(header), ...cells.map(line), ...(failures.length ? ['', 'failures:', ...failures] : [])].join('\n');
}

export interface EndpointsDeps {
  readonly client: (region: string | undefined) => SageMakerLike;
  readonly cdkJsonRegion: () => string | undefined;
  readonly log: (line: string) => void;
}

const defaultDeps: EndpointsDeps = {
  client: (region) => sageMakerClient({ region }),
  cdkJsonRegion: () => cdkJsonRegion(),
  log: (line) => console.log(line),
};

export function createEndpointsCommand(deps: EndpointsDeps = defaultDeps): CliCommand {
  return {
    name: 'endpoints',
    summary: 'list the MedLlama endpoints: status, instance, model version',
    usage,
    options,
    async run(argv) {
      const { values } = parseOptions(argv, options);
      const { region } = resolveRegion({ flag: values.region, cdkJson: deps.cdkJsonRegion });
      deps.log(formatTable(await listEndpoints(deps.client(region), values['name-prefix'])));
      return 0;
    },
  };
}

export const command = createEndpointsCommand();
