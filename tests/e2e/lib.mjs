// Shared pieces of gamehall's browser tests: Debian's Chromium driven by playwright-core, one
// browser context per person, helpers to act as a player through the web client, and
// screenshots under target/e2e-screenshots/.

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const SCREENSHOTS = resolve(here, '..', '..', 'target', 'e2e-screenshots');

/** Where Debian's chromium package puts the browser; E2E_CHROMIUM overrides it. */
export const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';

/** How long one wait for the page may take. */
export const TIMEOUT_MS = 15_000;

export const DESKTOP = { viewport: { width: 1280, height: 860 } };
/** A desktop whose owner prefers the dark colour scheme. */
export const DESKTOP_DARK = { ...DESKTOP, colorScheme: 'dark' };
export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

// Without the background-networking switches Chromium's own connections (updates, sync) are
// refused on a machine without internet and slow every start; none is needed for a test.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

export class Failure extends Error {}

export function check(condition, message) {
  if (!condition) throw new Failure(message);
}

export function log(...parts) {
  console.log('[e2e]', ...parts);
}

/** Waits until `fn()` (run in Node) returns a truthy value. */
export async function until(description, fn, timeout = TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Failure(`timed out waiting for ${description} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the element's text contains `text`. */
export async function expectText(locator, text, timeout = TIMEOUT_MS) {
  await until(`${locator} to contain ${JSON.stringify(text)}`,
    async () => ((await locator.textContent({ timeout })) || '').includes(text), timeout);
}

/**
 * One person with their own browser context (own storage: own identity). Records the frames
 * their page sends and receives on the WebSocket, and fails the test on any page error,
 * console error or Content-Security-Policy violation.
 */
export class Person {
  /** Everyone opened and not closed yet, for screenshots when a scenario fails. */
  static open_ = new Set();

  static async screenshotAll(prefix) {
    for (const person of Person.open_) {
      await person.screenshot(`${prefix}-${person.name.replace(/\W+/g, '-')}`).catch(() => {});
    }
  }

  static async open(browser, base, name, device = DESKTOP) {
    const context = await browser.newContext({ ...device, baseURL: base });
    context.setDefaultTimeout(TIMEOUT_MS);
    const page = await context.newPage();
    const person = new Person(name, context, page);
    Person.open_.add(person);
    await page.goto('/');
    return person;
  }

  constructor(name, context, page) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.sent = [];
    this.received = [];
    this.problems = [];
    page.on('pageerror', (err) => this.problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.problems.push(`console error: ${msg.text()}`);
    });
    page.on('websocket', (socket) => {
      socket.on('framesent', (frame) => this.record(this.sent, frame.payload));
      socket.on('framereceived', (frame) => this.record(this.received, frame.payload));
    });
  }

  record(list, payload) {
    try {
      list.push(JSON.parse(String(payload)));
    } catch {
      list.push({ unparsed: String(payload) });
    }
  }

  /** Fails if the page reported an error (a script error or a CSP refusal, say). */
  assertHealthy(allow = []) {
    const problems = this.problems.filter((p) => !allow.some((pattern) => pattern.test(p)));
    check(problems.length === 0, `${this.name}'s page reported problems:\n  ${problems.join('\n  ')}`);
  }

  /** Enters a name on the welcome form and waits for the lobby. */
  async signIn() {
    const { page } = this;
    await page.locator('#view-name').waitFor();
    await page.getByLabel('Your name').fill(this.name);
    await page.getByRole('button', { name: 'Enter' }).click();
    await page.locator('#view-lobby').waitFor();
    await expectText(page.locator('#whoami'), this.name);
  }

  /** Creates a room from the lobby and waits for its page; returns the room id. */
  async createRoom(kind, options = {}) {
    const { page } = this;
    await page.getByLabel('Game', { exact: true }).selectOption(kind);
    for (const [name, value] of Object.entries(options)) {
      await page.locator(`#option-${name}`).fill(String(value));
    }
    await page.getByRole('button', { name: 'Create and join' }).click();
    await page.locator('#view-room').waitFor();
    const id = await until('the room address', async () => /#\/room\/(\w+)/.exec(page.url())?.[1]);
    await until('the joined seat', async () =>
      (await page.locator('#view-room').getAttribute('data-role')) === 'player');
    return id;
  }

  /** Joins (`as` = 'join') or watches (`as` = 'watch') a room listed in the lobby. */
  async enterFromLobby(roomId, as) {
    const { page } = this;
    const button = page.locator(`li[data-room="${roomId}"] button[data-action="${as}"]`);
    await button.waitFor();
    await button.click();
    await page.locator('#view-room').waitFor();
    const role = as === 'join' ? 'player' : 'spectator';
    await until(`${this.name} to be a ${role}`, async () =>
      (await page.locator('#view-room').getAttribute('data-role')) === role);
  }

  async status() {
    return this.page.locator('#view-room').getAttribute('data-status');
  }

  async waitForStatus(status) {
    await until(`${this.name}'s room to be ${status}`, async () => (await this.status()) === status);
  }

  async chat(text) {
    await this.page.getByLabel('Message').fill(text);
    await this.page.getByRole('button', { name: 'Send' }).click();
  }

  async expectChat(from, text) {
    await until(`${this.name} to see ${from}'s chat line`, async () => {
      const lines = await this.page.locator('#chat-log li').allTextContents();
      return lines.some((line) => line.includes(`${from}: ${text}`));
    });
  }

  async screenshot(name) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const path = join(SCREENSHOTS, `${name}.png`);
    await this.page.screenshot({ path, fullPage: true });
    log(`screenshot ${path}`);
    return path;
  }

  async close() {
    Person.open_.delete(this);
    await this.context.close();
  }
}
