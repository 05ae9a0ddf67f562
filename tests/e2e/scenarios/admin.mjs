// The admin page: refused without the right token; with it, it lists the live rooms and their
// players, shows the archive holding the game that just finished, and the flush button writes
// it. The server runs with a long archive flush interval so the game waits for the button.

import { DESKTOP, PHONE, Person, check, expectText, until } from '../lib.mjs';

async function quickGame(browser, base) {
  const ada = await Person.open(browser, base, 'Ada', DESKTOP);
  const bob = await Person.open(browser, base, 'Bob', DESKTOP);
  await ada.signIn();
  const room = await ada.createRoom('tictactoe');
  await bob.signIn();
  await bob.enterFromLobby(room, 'join');
  const order = [[ada, 0], [bob, 3], [ada, 1], [bob, 4], [ada, 2]];
  for (const [person, cell] of order) {
    const button = person.page.locator(`.ttt-cell[data-cell="${cell}"]`);
    await until(`${person.name} on turn`, async () => (await button.getAttribute('aria-disabled')) === 'false');
    await button.click();
    await until(`cell ${cell} marked`, async () => (await button.textContent()) !== '');
  }
  await ada.waitForStatus('over');
  await expectText(ada.page.locator('#game-over'), 'You win!');
  return { room, people: [ada, bob] };
}

async function stat(page, key) {
  return page.locator(`[data-stat="${key}"] dd`).textContent();
}

export default async function admin({ browser, base, adminToken }) {
  check(adminToken, 'ADMIN_TOKEN is set for the admin scenario');
  const { room: finished, people } = await quickGame(browser, base);
  const cy = await Person.open(browser, base, 'Cy', DESKTOP);
  await cy.signIn();
  const waiting = await cy.createRoom('tictactoe');

  const op = await Person.open(browser, base, 'Operator', DESKTOP);
  await op.page.goto('/admin');
  await op.page.locator('#admin-login').waitFor();
  await op.page.getByLabel('Admin token').fill('not-the-token');
  await op.page.getByRole('button', { name: 'Sign in' }).click();
  await expectText(op.page.locator('#login-error'), 'refused');

  await op.page.getByLabel('Admin token').fill(adminToken);
  await op.page.getByRole('button', { name: 'Sign in' }).click();
  await op.page.locator('#admin-panel').waitFor();
  await op.page.locator(`tr[data-room="${finished}"]`).waitFor();
  await op.page.locator(`tr[data-room="${waiting}"]`).waitFor();
  await expectText(op.page.locator(`tr[data-room="${finished}"]`), 'finished');
  await expectText(op.page.locator(`tr[data-room="${finished}"]`), 'Ada, Bob');
  await expectText(op.page.locator(`tr[data-room="${waiting}"]`), 'waiting');
  await expectText(op.page.locator(`tr[data-room="${waiting}"]`), 'Cy');
  await until('the move count', async () => (await stat(op.page, 'moves')) === '5');
  await until('the connection count', async () => Number(await stat(op.page, 'connections')) >= 3);
  await until('the pending game', async () => (await stat(op.page, 'pending')) === '1');
  check((await stat(op.page, 'written')) === '0', 'nothing written before the flush');
  await op.screenshot('admin-desktop');

  await op.page.getByRole('button', { name: 'Flush archive now' }).click();
  await expectText(op.page.locator('#flush-result'), 'Flushed 1 game; 0 still pending.');
  await until('the written game', async () => (await stat(op.page, 'written')) === '1');
  check((await stat(op.page, 'pending')) === '0', 'nothing pending after the flush');

  // The token stays in this tab's sessionStorage across a reload, nowhere else.
  await op.page.reload();
  await op.page.locator('#admin-panel').waitFor();
  const stored = await op.page.evaluate(() => [sessionStorage.getItem('gamehall.admin'), localStorage.length]);
  check(stored[0] === adminToken && stored[1] === 0, `admin token storage: ${JSON.stringify(stored)}`);

  const phone = await Person.open(browser, base, 'Operator on a phone', PHONE);
  await phone.page.goto('/admin');
  await phone.page.getByLabel('Admin token').fill(adminToken);
  await phone.page.getByRole('button', { name: 'Sign in' }).click();
  await phone.page.locator(`tr[data-room="${waiting}"]`).waitFor();
  await phone.screenshot('admin-phone');

  await op.page.getByRole('button', { name: 'Sign out' }).click();
  await op.page.locator('#admin-login').waitFor();
  check(await op.page.evaluate(() => sessionStorage.getItem('gamehall.admin')) === null, 'signed out');

  for (const person of [...people, cy, op, phone]) person.assertHealthy([/401 \(Unauthorized\)/]);
  for (const person of [...people, cy, op, phone]) await person.close();
}
