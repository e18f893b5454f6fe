#!/usr/bin/env node
// Entry point for `npx egresslab`: registers the TypeScript loader so the checkout runs
// without a build step, then hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv.slice(2));
