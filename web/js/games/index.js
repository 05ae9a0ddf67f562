// The game kinds the web client can show. Each module exports:
//   kind, title, blurb          - name on the wire and for people
//   options                     - [{name, label, min, max, value, optional, help}] for the
//                                 create form; an optional field left empty is not sent
//   reduce(view, event, ctx)    - the view after one event (used to catch up after `resume`)
//   describe(event, ctx, before) - a sentence for the move log and screen readers, or null
//                                 (`before` is the view the event was applied to)
//   turn(view)                  - optional: whose turn it is (default `view.turn`)
//   statusText(view, info)      - optional: the status line while playing
//   seatLabel(seat, view)       - optional: how the players list names a seat ('X', 'Seat 2')
//   mount(host, ctx)            - draws the game; returns {update(view, info), destroy()}
// A kind without a module here can still be watched: its raw view is shown as text.

import crazyEights from './crazy_eights.js';
import snake from './snake.js';
import tictactoe from './tictactoe.js';

export const GAMES = [tictactoe, crazyEights, snake];

export function gameKind(kind) {
  return GAMES.find((game) => game.kind === kind) || null;
}
