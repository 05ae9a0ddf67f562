// Turn timers in the web client: a tic-tac-toe room with a 5-second turn clock shows a
// countdown to both players, moves the clock with the turn, and when Bob lets it run out he
// forfeits and everyone is told.

import { DESKTOP, PHONE, Person, check, expectText, until } from '../lib.mjs';

export default async function timer({ browser, base }) {
  const ada = await Person.open(browser, base, 'Ada', DESKTOP);
  const bob = await Person.open(browser, base, 'Bob', PHONE);
  await ada.signIn();
  const room = await ada.createRoom('tictactoe', { turn_seconds: 5 });
  await bob.signIn();
  await bob.enterFromLobby(room, 'join');
  for (const person of [ada, bob]) await person.waitForStatus('playing');

  await expectText(ada.page.locator('#countdown'), 's left for your move');
  await expectText(bob.page.locator('#countdown'), 'Ada:');
  const turn = await until('a turn event', async () =>
    ada.received.find((f) => f.type === 'event' && f.kind === 'turn'));
  check(turn.data.seat === 0 && turn.data.remaining_ms <= 5000 && turn.data.deadline_ms > 0,
    `turn event ${JSON.stringify(turn)}`);

  const cell = ada.page.locator('.ttt-cell[data-cell="4"]');
  await until('Ada on turn', async () => (await cell.getAttribute('aria-disabled')) === 'false');
  await cell.click();
  await expectText(bob.page.locator('#countdown'), 's left for your move');
  await expectText(ada.page.locator('#countdown'), 'Bob:');
  await ada.screenshot('timer-desktop');
  await bob.screenshot('timer-phone');

  // Bob does nothing: five seconds later his turn times out and he forfeits.
  for (const person of [ada, bob]) await person.waitForStatus('over');
  await expectText(ada.page.locator('#game-over'), 'Bob forfeited. You win!');
  await expectText(bob.page.locator('#game-over'), 'You forfeited. Ada wins.');
  await expectText(ada.page.locator('#event-log'), 'Bob ran out of time');
  check(await ada.page.locator('#countdown').isHidden(), 'no countdown after the game');

  for (const person of [ada, bob]) person.assertHealthy();
  for (const person of [ada, bob]) await person.close();
}
