// The dashboard's thread when egresslab runs from its sources (an edited checkout, the
// tests): a worker does not inherit the main thread's TypeScript loader, so it registers
// tsx before loading thread-worker.ts. The bundle has its own entry (dist/dash-worker.mjs).
import { register } from 'tsx/esm/api';

register();
await import('./thread-worker.ts');
