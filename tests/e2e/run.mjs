// Runs one browser scenario against a running gamehall server:
//   node tests/e2e/run.mjs <scenario> <base-url>
// Exit code 0 when it passed. The Rust test tests/api/e2e.rs starts the server and calls this;
// ADMIN_TOKEN is the server's admin token for the admin scenario.

import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Person, SCREENSHOTS, launch, log } from './lib.mjs';
import tictactoe from './scenarios/tictactoe.mjs';
import admin from './scenarios/admin.mjs';
import crazyEights from './scenarios/crazy_eights.mjs';
import snake from './scenarios/snake.mjs';
import timer from './scenarios/timer.mjs';

const SCENARIOS = { tictactoe, crazy_eights: crazyEights, timer, snake, admin };
const LIMIT_MS = 180_000;

const [name, base] = process.argv.slice(2);
const scenario = SCENARIOS[name];
if (!scenario || !base) {
  console.error(`usage: node run.mjs <${Object.keys(SCENARIOS).join('|')}> <base-url>`);
  process.exit(2);
}

const watchdog = setTimeout(() => {
  console.error(`[e2e] ${name}: still running after ${LIMIT_MS / 1000} s; giving up`);
  process.exit(3);
}, LIMIT_MS);

// Screenshots of an earlier failure of this scenario would mislead.
try {
  for (const file of readdirSync(SCREENSHOTS)) {
    if (file.startsWith(`FAILED-${name}-`)) rmSync(join(SCREENSHOTS, file));
  }
} catch {
  // No screenshots yet.
}

const started = Date.now();
const browser = await launch();
log(`${name}: Chromium ${browser.version()} against ${base}`);
try {
  await scenario({ browser, base, adminToken: process.env.ADMIN_TOKEN || '' });
  log(`${name}: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  console.error(`[e2e] ${name}: FAILED: ${err && err.stack ? err.stack : err}`);
  process.exitCode = 1;
  // What each page showed when it failed, next to the other screenshots.
  await Person.screenshotAll(`FAILED-${name}`);
} finally {
  await browser.close();
  clearTimeout(watchdog);
}
