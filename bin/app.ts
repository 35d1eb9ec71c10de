#!/usr/bin/env node
// CDK entry point: the only place that reads context or environment.
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app.ts';
import { ConfigError, parseConfig } from '../lib/config.ts';

const app = new App();
try {
  buildApp(app, parseConfig(app.node.tryGetContext('medllama')));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
app.synth();
