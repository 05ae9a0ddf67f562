// Two people play snake in real time while a third watches: the canvas follows the server's
// ticks, Ada steers with the keyboard and Bob (on a phone) with the on-screen pad, Bob crashes
// into the bottom wall first and Ada wins. The spectator reloads mid-game and catches up.

import { DESKTOP, PHONE, Person, check, expectText, log, until } from '../lib.mjs';

async function tick(person) {
  return Number(await person.page.locator('canvas.snake-board').getAttribute('data-tick'));
}

async function boardLabel(person) {
  return person.page.locator('canvas.snake-board').getAttribute('aria-label');
}

export default async function snake({ browser, base }) {
  const ada = await Person.open(browser, base, 'Ada', DESKTOP);
  const bob = await Person.open(browser, base, 'Bob', PHONE);
  const cy = await Person.open(browser, base, 'Cy', DESKTOP);
  const everyone = [ada, bob, cy];

  await ada.signIn();
  // A big board at the slowest speed: Ada's snake has 37 cells to the right wall and, once it
  // turns down, 29 rows (six seconds) to the bottom; Bob's has 10. That leaves a slow machine
  // time to reload the spectator and still see Bob crash first.
  const room = await ada.createRoom('snake', { players: 2, tick_hz: 5, width: 40, height: 40 });
  log(`room ${room} created`);
  await cy.signIn();
  await cy.enterFromLobby(room, 'watch');
  await bob.signIn();
  await bob.enterFromLobby(room, 'join');

  for (const person of everyone) await person.waitForStatus('playing');
  await until('a few ticks', async () => (await tick(cy)) >= 2);
  check((await tick(ada)) >= 1 && (await tick(bob)) >= 1, 'every page follows the ticks');
  check(await cy.page.locator('.snake-pad').isHidden(), 'a spectator has no steering pad');
  // Not a fixed length: the room's random seed may put food right in front of a snake.
  await expectText(ada.page.locator('.snake-legend'), 'You: length');
  await expectText(ada.page.locator('.snake-legend'), 'Bob: length');

  await ada.screenshot('snake-desktop');
  await bob.screenshot('snake-phone');
  await cy.screenshot('snake-spectator');

  // Ada turns down with the keyboard (seat 0 starts at the top left heading right).
  await ada.page.locator('canvas.snake-board').click();
  await ada.page.keyboard.press('ArrowDown');
  await until("Ada's snake heading down", async () => (await boardLabel(ada)).includes('heading down'));
  check(ada.sent.some((f) => f.type === 'act' && f.action.dir === 'down'), 'Ada sent {"dir":"down"}');

  // The spectator reloads and resumes from its last tick.
  const before = await tick(cy);
  await cy.page.reload();
  await cy.waitForStatus('playing');
  const resume = await until('the resume frame', async () => cy.sent.find((f) => f.type === 'resume'));
  check(resume.room === room && resume.since_seq >= before, `resume ${JSON.stringify(resume)} after tick ${before}`);
  await until('the spectator catching up', async () => (await tick(cy)) > before);

  // Bob (seat 1 starts at the bottom right heading left) taps Down and hits the wall.
  await bob.page.getByRole('button', { name: 'Down' }).tap();
  check(bob.sent.some((f) => f.type === 'act' && f.action.dir === 'down'), 'Bob sent {"dir":"down"}');

  for (const person of everyone) await person.waitForStatus('over');
  await expectText(ada.page.locator('#game-over'), 'You win!');
  await expectText(bob.page.locator('#game-over'), 'Ada wins.');
  await expectText(cy.page.locator('#game-over'), 'Ada wins.');
  await expectText(cy.page.locator('#event-log'), 'Bob crashed');
  await expectText(ada.page.locator('.snake-legend'), 'Bob: length');
  await expectText(ada.page.locator('.snake-legend'), '(crashed)');
  await ada.screenshot('snake-over-desktop');
  await bob.screenshot('snake-over-phone');

  // Every tick reached the spectator in order, each with the next seq.
  const ticks = cy.received.filter((f) => f.type === 'event' && f.kind === 'tick');
  const seqs = ticks.map((f) => f.seq);
  check(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]), 'tick seqs increase');

  for (const person of everyone) person.assertHealthy();
  for (const person of everyone) await person.close();
}
