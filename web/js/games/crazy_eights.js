// Crazy Eights: your hand as buttons, the discard pile's top, the draw pile and the other
// players' card counts. Actions: `{"type":"play","card":"7H"}` (an eight also names the suit
// to follow: `"suit":"H"`), `{"type":"draw"}` and `{"type":"pass"}`. Every event says enough to
// keep the view current, so a resume replays them instead of needing a new snapshot.

import { el } from '../dom.js';

const SUITS = {
  C: { symbol: '♣', name: 'clubs', red: false },
  D: { symbol: '♦', name: 'diamonds', red: true },
  H: { symbol: '♥', name: 'hearts', red: true },
  S: { symbol: '♠', name: 'spades', red: false },
};
const RANK_NAMES = { A: 'ace', J: 'jack', Q: 'queen', K: 'king' };

const rankOf = (card) => card.slice(0, -1);
const suitOf = (card) => card.slice(-1);
const isEight = (card) => rankOf(card) === '8';
const short = (card) => `${rankOf(card)}${SUITS[suitOf(card)].symbol}`;
const spoken = (card) => `${RANK_NAMES[rankOf(card)] || rankOf(card)} of ${SUITS[suitOf(card)].name}`;

function playable(card, view) {
  return isEight(card) || rankOf(card) === rankOf(view.top) || suitOf(card) === view.suit;
}

function canDraw(view) {
  // The server refills the draw pile from the discards the moment it empties, so an empty
  // pile means there is nothing left to draw.
  return !view.drawn && view.draw_pile > 0;
}

function cardFace(card, extraClass = '') {
  const suit = SUITS[suitOf(card)];
  return el('span', { class: `card-face ${suit.red ? 'red' : 'black'} ${extraClass}`, 'aria-hidden': 'true' },
    el('span', { class: 'card-rank' }, rankOf(card)),
    el('span', { class: 'card-suit' }, suit.symbol));
}

export default {
  kind: 'crazy_eights',
  title: 'Crazy Eights',
  blurb: '2 to 6 players. Match the top card by rank or suit; eights are wild. Empty your hand first.',
  options: [
    { name: 'players', label: 'Players', min: 2, max: 6, value: 2 },
    {
      name: 'turn_seconds', label: 'Turn timer (seconds)', min: 5, max: 300, optional: true,
      help: 'Empty for no timer. A player who runs out of time draws and passes.',
    },
  ],

  reduce(view, event, ctx) {
    const d = event.data;
    const next = { ...view, hand_counts: view.hand_counts.slice() };
    switch (event.kind) {
      case 'played':
        next.top = d.card;
        next.suit = d.suit;
        next.hand_counts[d.seat] = d.hand_count;
        if (next.hand && d.seat === ctx.seat) {
          next.hand = next.hand.filter((card) => card !== d.card);
        }
        next.drawn = false;
        next.turn = d.hand_count === 0 ? null : (d.seat + 1) % view.players;
        return next;
      case 'drew':
        next.hand_counts[d.seat] = d.hand_count;
        next.draw_pile = Math.max(0, view.draw_pile - 1);
        if (next.hand && d.seat === ctx.seat && typeof d.card === 'string') {
          next.hand = [...next.hand, d.card];
        }
        next.drawn = true;
        return next;
      case 'passed':
        next.drawn = false;
        next.turn = (d.seat + 1) % view.players;
        return next;
      case 'reshuffled':
        next.draw_pile = d.draw_pile;
        return next;
      default:
        return view;
    }
  },

  describe(event, ctx) {
    const d = event.data;
    const who = ctx.name(d.seat);
    switch (event.kind) {
      case 'played':
        return isEight(d.card)
          ? `${who} played ${short(d.card)} and chose ${SUITS[d.suit].name}.`
          : `${who} played ${short(d.card)}.`;
      case 'drew':
        return typeof d.card === 'string' ? `${who} drew ${short(d.card)}.` : `${who} drew a card.`;
      case 'passed':
        return `${who} passed.`;
      case 'reshuffled':
        return `The discards were shuffled into a new draw pile of ${d.draw_pile}.`;
      default:
        return null;
    }
  },

  seatLabel(seat, view) {
    const count = view && view.hand_counts ? view.hand_counts[seat] : null;
    return typeof count === 'number' ? `${count} card${count === 1 ? '' : 's'}` : `Seat ${seat + 1}`;
  },

  mount(host, ctx) {
    let view = null;
    let info = null;
    let choosing = null; // the eight waiting for a suit

    const others = el('ul', { class: 'c8-others', 'aria-label': 'Other players' });
    const topSlot = el('div', { class: 'c8-top' });
    const follow = el('p', { class: 'c8-follow' });
    const drawButton = el('button', {
      type: 'button', class: 'c8-pile', 'data-action': 'draw',
      on: { click: () => !isDisabled(drawButton) && ctx.act({ type: 'draw' }) },
    });
    const passButton = el('button', {
      type: 'button', 'data-action': 'pass',
      on: { click: () => !isDisabled(passButton) && ctx.act({ type: 'pass' }) },
    }, 'Pass');
    const table = el('div', { class: 'c8-table' },
      el('div', { class: 'c8-stack' }, drawButton, el('span', { class: 'c8-label muted' }, 'Draw pile')),
      el('div', { class: 'c8-stack' }, topSlot, el('span', { class: 'c8-label muted' }, 'Discard')));
    const suitPicker = el('div', { class: 'c8-suits', role: 'group', 'aria-label': 'Choose the suit to follow', hidden: true },
      el('p', { class: 'c8-suits-title' }, 'Choose the suit to follow:'),
      Object.entries(SUITS).map(([letter, suit]) => el('button', {
        type: 'button',
        class: `c8-suit ${suit.red ? 'red' : 'black'}`,
        'data-suit': letter,
        on: { click: () => chooseSuit(letter) },
      }, `${suit.symbol} ${suit.name[0].toUpperCase()}${suit.name.slice(1)}`)),
      el('button', { type: 'button', class: 'c8-cancel', on: { click: () => { choosing = null; paint(); } } }, 'Cancel'));
    const handTitle = el('h3', { class: 'c8-hand-title' }, 'Your hand');
    const hand = el('div', { class: 'c8-hand', role: 'group', 'aria-label': 'Your hand' });
    const actions = el('div', { class: 'c8-actions' }, passButton);
    const root = el('div', { class: 'c8' }, others, table, follow, suitPicker, handTitle, hand, actions);
    host.append(root);

    function isDisabled(button) {
      return button.disabled || button.getAttribute('aria-disabled') === 'true';
    }

    function myTurn() {
      return info && info.role === 'player' && info.status === 'playing' && view && view.turn === info.seat;
    }

    function playCard(card) {
      if (!myTurn() || !playable(card, view)) return;
      if (isEight(card)) {
        choosing = card;
        paint();
        suitPicker.querySelector('button').focus();
        return;
      }
      ctx.act({ type: 'play', card });
    }

    function chooseSuit(letter) {
      if (!choosing) return;
      const card = choosing;
      choosing = null;
      paint();
      ctx.act({ type: 'play', card, suit: letter });
    }

    function paint() {
      if (!view) return;
      const mine = myTurn();

      others.replaceChildren(...Array.from({ length: view.players }, (_, seat) => seat)
        .filter((seat) => !(info.role === 'player' && seat === info.seat))
        .map((seat) => {
          const count = view.hand_counts[seat];
          return el('li', { class: `c8-other ${view.turn === seat ? 'on-turn' : ''}`, 'data-seat': seat },
            el('span', { class: 'c8-backs', 'aria-hidden': 'true' },
              Array.from({ length: Math.min(count, 12) }, () => el('span', { class: 'card-back' }))),
            el('span', {}, `${info.name(seat)}: ${count} card${count === 1 ? '' : 's'}`));
        }));

      topSlot.replaceChildren(cardFace(view.top, 'big'));
      topSlot.setAttribute('aria-label', `Top card: ${spoken(view.top)}`);
      topSlot.setAttribute('role', 'img');
      topSlot.dataset.card = view.top;
      const suit = SUITS[view.suit];
      follow.textContent = view.suit !== suitOf(view.top) ? `Suit to follow: ${suit.symbol} ${suit.name}` : '';
      follow.className = `c8-follow ${suit.red ? 'red' : ''}`;
      follow.dataset.suit = view.suit;

      drawButton.replaceChildren(el('span', { class: 'card-back big', 'aria-hidden': 'true' }),
        el('span', { class: 'c8-count' }, String(view.draw_pile)));
      drawButton.setAttribute('aria-label', `Draw a card (${view.draw_pile} in the pile)`);
      const player = info.role === 'player';
      drawButton.disabled = !player;
      drawButton.setAttribute('aria-disabled', String(!mine || !canDraw(view) || !!choosing));
      passButton.hidden = !player || info.status !== 'playing';
      // Passing is allowed once you have drawn, or when there is nothing at all to draw.
      const mayPass = mine && (view.drawn || view.draw_pile === 0);
      // Rebuilding the hand must not throw a keyboard user's focus away: keep it on the same
      // card, or on the card that took the place of the one just played.
      const focused = hand.contains(document.activeElement) ? document.activeElement : null;
      const focusedCard = focused ? focused.dataset.card : null;
      const focusedAt = focused ? Array.from(hand.children).indexOf(focused) : -1;
      passButton.setAttribute('aria-disabled', String(!mayPass || !!choosing));

      handTitle.hidden = !view.hand;
      handTitle.textContent = view.hand && view.hand.length === 0 ? 'Your hand is empty' : 'Your hand';
      hand.hidden = !view.hand;
      if (view.hand) {
        hand.replaceChildren(...view.hand.map((card) => {
          const ok = mine && playable(card, view) && !choosing;
          return el('button', {
            type: 'button',
            class: `c8-card ${choosing === card ? 'chosen' : ''}`,
            'data-card': card,
            'data-playable': String(ok),
            'aria-disabled': String(!ok),
            'aria-label': `${spoken(card)}${ok ? ', playable' : ''}`,
            on: { click: () => playCard(card) },
          }, cardFace(card));
        }));
        if (focused) {
          const again = hand.querySelector(`[data-card="${focusedCard}"]`)
            || hand.children[Math.min(focusedAt, hand.children.length - 1)] || drawButton;
          again.focus();
        }
      }
      suitPicker.hidden = !choosing;
    }

    return {
      update(nextView, nextInfo) {
        view = nextView;
        info = nextInfo;
        if (choosing && (!view || !view.hand || !view.hand.includes(choosing) || !myTurn())) choosing = null;
        root.hidden = !view;
        paint();
      },
      destroy() {
        root.remove();
      },
    };
  },
};
