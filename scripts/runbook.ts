#!/usr/bin/env node
// The operator CLI (`npx runbook …`). The host scripts the runbooks carry load as text first
// (host-script-loader.ts), then the CLI itself.
import './host-script-loader.js';

await import('./cli/main.js');
