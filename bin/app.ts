#!/usr/bin/env node
// CDK entry point: the only place that reads context or environment.
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app.ts';
import { ConfigError, parseConfig } from '../lib/config.ts';

/** The `medllama` context: an object from cdk.json, or a JSON string from `cdk synth -c medllama='{…}'`. */
function medllamaContext(app: App): unknown {
  const raw: unknown = app.node.tryGetContext('medllama');
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError([
      `medllama: got ${JSON.stringify(raw)}, expected a JSON object (-c medllama='{"stage":"dev"}')`,
    ]);
  }
}

const app = new App();
try {
  buildApp(app, parseConfig(medllamaContext(app)));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
app.synth();
