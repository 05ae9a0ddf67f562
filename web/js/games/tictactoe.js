// Tic-tac-toe (docs/protocol.md, section 9): a 3×3 grid of buttons; action `{"cell": 0..8}`.

import { el } from '../dom.js';

const LINES = [
  [0, 1, 2], [3, 4, 5], [6, 7, 8],
  [0, 3, 6], [1, 4, 7], [2, 5, 8],
  [0, 4, 8], [2, 4, 6],
];

const place = (cell) => `row ${Math.floor(cell / 3) + 1}, column ${(cell % 3) + 1}`;

function winningLine(board) {
  return LINES.find(([a, b, c]) => board[a] && board[a] === board[b] && board[b] === board[c]) || null;
}

export default {
  kind: 'tictactoe',
  title: 'Tic-tac-toe',
  blurb: 'Two players, three in a row.',
  options: [
    {
      name: 'turn_seconds', label: 'Turn timer (seconds)', min: 5, max: 300, optional: true,
      help: 'Empty for no timer. A player who runs out of time forfeits.',
    },
  ],

  /** The view after one event; the server's `move` carries all it changes. */
  reduce(view, event) {
    if (event.kind !== 'move' || !view) return view;
    const board = view.board.slice();
    board[event.data.cell] = event.data.mark;
    const decided = winningLine(board) || board.every((c) => c !== null);
    return { ...view, board, turn: decided ? null : 1 - event.data.seat };
  },

  /** Seat 0 plays X, seat 1 plays O. */
  seatLabel(seat) {
    return seat === 0 ? 'X' : 'O';
  },

  describe(event, ctx) {
    if (event.kind !== 'move') return null;
    return `${ctx.name(event.data.seat)} (${event.data.mark}) took ${place(event.data.cell)}`;
  },

  mount(host, ctx) {
    const cells = [];
    const grid = el('div', { class: 'ttt', role: 'group', 'aria-label': 'Tic-tac-toe board' });
    for (let cell = 0; cell < 9; cell += 1) {
      const button = el('button', {
        type: 'button',
        class: 'ttt-cell',
        'data-cell': cell,
        on: {
          click: () => {
            if (button.getAttribute('aria-disabled') === 'true') return;
            ctx.act({ cell });
          },
        },
      });
      cells.push(button);
      grid.append(button);
    }
    // Arrow keys move between cells, as in any grid.
    grid.addEventListener('keydown', (event) => {
      const at = cells.indexOf(document.activeElement);
      if (at < 0) return;
      const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -3, ArrowDown: 3 }[event.key];
      if (step === undefined) return;
      const next = at + step;
      if (next < 0 || next > 8 || (Math.abs(step) === 1 && Math.floor(next / 3) !== Math.floor(at / 3))) return;
      event.preventDefault();
      cells[next].focus();
    });
    host.append(grid);

    return {
      update(view, info) {
        const board = view ? view.board : Array(9).fill(null);
        const line = winningLine(board) || [];
        const canAct = info.role === 'player' && info.status === 'playing' && info.myTurn;
        cells.forEach((button, cell) => {
          const mark = board[cell];
          button.textContent = mark || '';
          button.dataset.mark = mark || '';
          button.classList.toggle('win', line.includes(cell));
          button.setAttribute('aria-label', `${place(cell)}: ${mark || 'empty'}`);
          if (info.role !== 'player') {
            button.disabled = true;
          } else {
            button.disabled = false;
            button.setAttribute('aria-disabled', String(!canAct || mark !== null));
          }
        });
      },
      destroy() {
        grid.remove();
      },
    };
  },
};
