// Two people play tic-tac-toe to the end in the web client while a third watches: the lobby
// lists the room, the spectator sees every move and cannot act, chat reaches everyone, and a
// player who reloads mid-game resumes with the board intact.

import { DESKTOP, PHONE, Person, check, expectText, log, until } from '../lib.mjs';

async function marks(person) {
  return person.page.locator('.ttt-cell').evaluateAll((cells) => cells.map((c) => c.textContent));
}

/** `person` marks `cell`; everyone in `all` sees it. */
async function play(person, cell, mark, all) {
  const button = person.page.locator(`.ttt-cell[data-cell="${cell}"]`);
  await until(`${person.name} to be on turn`, async () =>
    (await button.getAttribute('aria-disabled')) === 'false');
  await button.click();
  for (const other of all) {
    await until(`${other.name} to see ${mark} on cell ${cell}`, async () => (await marks(other))[cell] === mark);
  }
}

export default async function tictactoe({ browser, base }) {
  const ada = await Person.open(browser, base, 'Ada', DESKTOP);
  const bob = await Person.open(browser, base, 'Bob', PHONE);
  const cy = await Person.open(browser, base, 'Cy', DESKTOP);
  const everyone = [ada, bob, cy];

  await ada.page.locator('#view-name').waitFor();
  await ada.screenshot('welcome-desktop');
  await ada.signIn();
  const room = await ada.createRoom('tictactoe');
  log(`room ${room} created`);
  await ada.waitForStatus('waiting');
  await expectText(ada.page.locator('#status-line'), 'Waiting for players');

  await bob.signIn();
  await bob.page.locator(`li[data-room="${room}"] button[data-action="join"]`).waitFor();
  await bob.screenshot('lobby-phone');
  await bob.enterFromLobby(room, 'join');

  await cy.signIn();
  await cy.page.locator(`li[data-room="${room}"][data-status="playing"]`).waitFor();
  check(await cy.page.locator(`li[data-room="${room}"] button[data-action="join"]`).isHidden(),
    'a full room offers no Join button');
  await cy.screenshot('lobby-desktop');
  await cy.enterFromLobby(room, 'watch');

  for (const person of everyone) await person.waitForStatus('playing');
  await expectText(ada.page.locator('#status-line'), 'Your turn');
  await expectText(bob.page.locator('#status-line'), 'Ada to play');
  await expectText(cy.page.locator('#status-line'), 'You are watching');

  await play(ada, 4, 'X', everyone);
  await play(bob, 0, 'O', everyone);
  await play(ada, 2, 'X', everyone);

  // The spectator's board cannot be played, and nothing it does sends an action.
  check(await cy.page.locator('.ttt-cell[data-cell="1"]').isDisabled(), "the spectator's cells are disabled");
  await cy.page.locator('.ttt-cell[data-cell="1"]').click({ force: true });
  // Out of turn, Ada's click is refused by the page before it reaches the server.
  const adaActs = ada.sent.filter((f) => f.type === 'act').length;
  await ada.page.locator('.ttt-cell[data-cell="1"]').click({ force: true });
  check(!cy.sent.some((f) => f.type === 'act'), 'the spectator sent no action');
  check(ada.sent.filter((f) => f.type === 'act').length === adaActs, 'no action out of turn');

  await ada.chat('good luck!');
  for (const person of [bob, cy]) await person.expectChat('Ada', 'good luck!');
  await ada.expectChat('You', 'good luck!');
  await cy.chat('nice centre');
  await ada.expectChat('Cy', 'nice centre');
  await bob.expectChat('Cy', 'nice centre');

  await ada.screenshot('tictactoe-desktop');
  await bob.screenshot('tictactoe-phone');
  await cy.screenshot('tictactoe-spectator');

  // Bob reloads mid-game: the page resumes from the last event it applied (seq 4: started and
  // three moves) and shows the same board.
  const before = await marks(bob);
  await bob.page.reload();
  await bob.waitForStatus('playing');
  await until('Bob to send resume', async () => bob.sent.some((f) => f.type === 'resume'));
  const resume = bob.sent.find((f) => f.type === 'resume');
  check(resume.room === room && resume.since_seq === 4, `resume frame: ${JSON.stringify(resume)}`);
  await until('the resumed reply', async () => bob.received.some((f) => f.type === 'resumed'));
  check(JSON.stringify(await marks(bob)) === JSON.stringify(before),
    `board after reload ${JSON.stringify(await marks(bob))} != ${JSON.stringify(before)}`);
  await expectText(bob.page.locator('#status-line'), 'Your turn');
  await expectText(ada.page.locator('#event-log'), 'Bob is back');

  await play(bob, 1, 'O', everyone);
  // Ada plays her last move with the keyboard: arrows move between cells, Enter marks.
  await until('Ada on turn', async () =>
    (await ada.page.locator('.ttt-cell[data-cell="3"]').getAttribute('aria-disabled')) === 'false');
  await ada.page.locator('.ttt-cell[data-cell="3"]').focus();
  await ada.page.keyboard.press('ArrowDown');
  check(await ada.page.evaluate(() => document.activeElement.dataset.cell) === '6', 'ArrowDown moves to cell 6');
  await ada.page.keyboard.press('Enter');
  for (const person of everyone) {
    await until(`${person.name} to see X on cell 6`, async () => (await marks(person))[6] === 'X');
  }

  for (const person of everyone) await person.waitForStatus('over');
  await expectText(ada.page.locator('#game-over'), 'You win!');
  await expectText(bob.page.locator('#game-over'), 'Ada wins.');
  await expectText(cy.page.locator('#game-over'), 'Ada wins.');
  const winning = await ada.page.locator('.ttt-cell.win').evaluateAll((cells) => cells.map((c) => c.dataset.cell));
  check(JSON.stringify(winning) === JSON.stringify(['2', '4', '6']), `winning line ${winning}`);
  await ada.screenshot('tictactoe-over-desktop');
  await bob.screenshot('tictactoe-over-phone');

  // The spectator saw every move as it happened.
  const seen = cy.received.filter((f) => f.type === 'event' && f.kind === 'move').map((f) => f.data.cell);
  check(JSON.stringify(seen) === JSON.stringify([4, 0, 2, 1, 6]), `spectator saw moves ${seen}`);

  // A room that does not exist is said so, and the page offers the way back.
  await cy.page.goto('/#/room/nosuchroom');
  await expectText(cy.page.locator('#room-notice'), 'does not exist');
  await expectText(cy.page.locator('#leave-button'), 'Back to lobby');
  await cy.page.locator('#leave-button').click();
  await cy.page.locator('#view-lobby').waitFor();

  ada.assertHealthy();
  bob.assertHealthy();
  // The browser logs the missing room's `GET /v1/rooms/nosuchroom` (404) as a console error.
  cy.assertHealthy([/status of 404 \(Not Found\)/]);
  for (const person of everyone) await person.close();
}
