// Two people play a whole game of Crazy Eights through the web client (clicking legal cards,
// naming a suit for eights, drawing and passing) while a third watches. Mid-game Bob reloads
// twice: once resuming from his last event, once with his snapshot gone so that the server
// sends its own view, which must equal the one his page kept up to date from events. Nobody's
// page ever receives another seat's cards. The spectator's browser prefers the dark scheme.

import { DESKTOP, DESKTOP_DARK, PHONE, Person, check, expectText, log, until } from '../lib.mjs';

const MAX_ACTIONS = 600;

async function seq(person) {
  return Number(await person.page.locator('#view-room').getAttribute('data-seq'));
}

/** The view the page keeps in sessionStorage, once it has caught up with the page. */
async function savedView(person, room) {
  const current = await seq(person);
  return until(`${person.name}'s saved view at seq ${current}`, async () => {
    const saved = await person.page.evaluate((id) => JSON.parse(sessionStorage.getItem(`gamehall.room.${id}`)), room);
    return saved && saved.seq === current ? saved.view : null;
  });
}

let suitChoiceShown = false;

/** Plays one legal action for whoever is on turn; returns false once the game is over. */
async function step(players) {
  const mover = await until('someone on turn, or the end', async () => {
    for (const p of players) {
      if ((await p.status()) === 'over') return 'over';
      if ((await p.page.locator('#view-room').getAttribute('data-my-turn')) === 'true') return p;
    }
    return null;
  });
  if (mover === 'over') return false;
  const { page } = mover;
  const before = await seq(mover);
  const playable = page.locator('.c8-hand .c8-card[data-playable="true"]');
  let what;
  if (await playable.count()) {
    const card = await playable.first().getAttribute('data-card');
    await playable.first().click();
    what = `plays ${card}`;
    if (card.startsWith('8')) {
      // Name the suit most of the rest of the hand is in.
      const hand = await page.locator('.c8-hand .c8-card').evaluateAll((cards) => cards.map((c) => c.dataset.card));
      const counts = {};
      for (const c of hand) if (c !== card) counts[c.slice(-1)] = (counts[c.slice(-1)] || 0) + 1;
      const suit = Object.entries(counts).sort((a, b) => b[1] - a[1])[0]?.[0] || 'H';
      await page.locator('.c8-suits').waitFor();
      if (!suitChoiceShown) {
        suitChoiceShown = true;
        await mover.screenshot(`crazy-eights-suit-choice-${mover.name === 'Bob' ? 'phone' : 'desktop'}`);
      }
      await page.locator(`.c8-suits button[data-suit="${suit}"]`).click();
      what += ` naming ${suit}`;
    }
  } else if ((await page.locator('[data-action="draw"]').getAttribute('aria-disabled')) === 'false') {
    await page.locator('[data-action="draw"]').click();
    what = 'draws';
  } else {
    await page.getByRole('button', { name: 'Pass' }).click();
    what = 'passes';
  }
  await until(`${mover.name}'s action (${what}) to be applied`, async () => (await seq(mover)) > before);
  return what;
}

export default async function crazyEights({ browser, base }) {
  const ada = await Person.open(browser, base, 'Ada', DESKTOP);
  const bob = await Person.open(browser, base, 'Bob', PHONE);
  // The spectator's screen is in the dark scheme, so the screenshots show both.
  const cy = await Person.open(browser, base, 'Cy', DESKTOP_DARK);
  const players = [ada, bob];
  const everyone = [ada, bob, cy];

  await ada.signIn();
  await ada.page.getByLabel('Game', { exact: true }).selectOption('crazy_eights');
  await ada.page.locator('#option-turn_seconds').waitFor();
  await ada.screenshot('lobby-create-crazy-eights');
  const room = await ada.createRoom('crazy_eights', { players: 2 });
  log(`room ${room} created`);
  await cy.signIn();
  await cy.enterFromLobby(room, 'watch');
  await bob.signIn();
  await bob.enterFromLobby(room, 'join');
  for (const person of everyone) await person.waitForStatus('playing');
  check(await ada.page.locator('.c8-hand .c8-card').count() === 7, 'Ada holds 7 cards');
  check(await bob.page.locator('.c8-hand .c8-card').count() === 7, 'Bob holds 7 cards');
  check(await cy.page.locator('.c8-hand').isHidden(), 'a spectator sees no hand');
  await expectText(cy.page.locator('.c8-others'), 'Ada: 7 cards');

  let actions = 0;
  let reloaded = false;
  let shot = false;
  for (;;) {
    const what = await step(players);
    if (!what) break;
    actions += 1;
    check(actions < MAX_ACTIONS, `the game is still going after ${MAX_ACTIONS} actions`);

    if (!shot && actions >= 6) {
      shot = true;
      await ada.screenshot('crazy-eights-desktop');
      await bob.screenshot('crazy-eights-phone');
      await cy.screenshot('crazy-eights-spectator');
    }
    if (!reloaded && actions >= 10 && (await ada.status()) === 'playing') {
      reloaded = true;
      const kept = await savedView(bob, room);
      // Everyone agrees on the counts; Bob's count is his hand.
      const adaView = await savedView(ada, room);
      check(JSON.stringify(adaView.hand_counts) === JSON.stringify(kept.hand_counts), 'hand counts agree');
      check(kept.hand.length === kept.hand_counts[1], "Bob's count is his hand's size");

      // 1. Reload: resume from the last event and rebuild the same view from the missed ones.
      await bob.page.reload();
      await bob.waitForStatus('playing');
      await until('a resume', async () => bob.sent.some((f) => f.type === 'resume'));
      const resumed = await savedView(bob, room);
      check(JSON.stringify(resumed) === JSON.stringify(kept), `resumed view ${JSON.stringify(resumed)} != ${JSON.stringify(kept)}`);

      // 2. Reload without the snapshot: `join` brings the server's own view of Bob's seat,
      //    which must be exactly what the page had built from events.
      // (The page saves its snapshot as it unloads, so drop it as the next page starts.)
      await bob.page.addInitScript((id) => sessionStorage.removeItem(`gamehall.room.${id}`), room);
      const joinsBefore = bob.sent.filter((f) => f.type === 'join').length;
      await bob.page.reload();
      await bob.waitForStatus('playing');
      await until('a join', async () => bob.sent.filter((f) => f.type === 'join').length > joinsBefore);
      const fromServer = await savedView(bob, room);
      check(JSON.stringify(fromServer) === JSON.stringify(kept), `server view ${JSON.stringify(fromServer)} != page view ${JSON.stringify(kept)}`);
      await expectText(bob.page.locator('#room-meta'), 'you are seat 2');
      log(`Bob reloaded twice after ${actions} actions; his view matched the server's`);
    }
  }
  log(`game over after ${actions} actions`);
  check(reloaded, 'the game lasted long enough to reload mid-game');

  for (const person of everyone) await person.waitForStatus('over');
  const outcomes = everyone.map((p) => JSON.stringify(p.received.find((f) => f.type === 'game_over')?.outcome));
  check(outcomes.every((o) => o && o === outcomes[0]), `everyone saw the same outcome: ${outcomes}`);
  const outcome = JSON.parse(outcomes[0]);
  const winner = outcome.winners.length === 1 ? ['Ada', 'Bob'][outcome.winners[0]] : null;
  for (const person of everyone) {
    const text = await person.page.locator('#game-over').textContent();
    const expected = winner === null ? 'Draw' : person.name === winner ? 'You win!' : `${winner} wins.`;
    check(text.includes(expected), `${person.name} sees "${text}", expected "${expected}"`);
    check(text.includes('Scores:'), `${person.name} sees the penalty scores`);
  }
  await ada.screenshot('crazy-eights-over-desktop');
  await bob.screenshot('crazy-eights-over-phone');

  // Hidden information: nobody's frames hold another seat's cards.
  for (const [person, seat] of [[ada, 0], [bob, 1], [cy, null]]) {
    for (const frame of person.received) {
      const state = frame.type === 'state' ? frame.state : frame.type === 'joined' ? frame.state : null;
      if (state && seat === null) check(!('hand' in state), `${person.name} got a hand: ${JSON.stringify(frame)}`);
      if (frame.type === 'event' && frame.kind === 'drew' && frame.data.seat !== seat) {
        check(!('card' in frame.data), `${person.name} saw another seat's drawn card: ${JSON.stringify(frame)}`);
      }
    }
  }
  check(ada.received.some((f) => f.type === 'event' && f.kind === 'drew' && f.data.seat === 0 && 'card' in f.data)
    || !ada.received.some((f) => f.type === 'event' && f.kind === 'drew' && f.data.seat === 0),
  'Ada sees the cards she draws');

  for (const person of everyone) person.assertHealthy();
  for (const person of everyone) await person.close();
}
