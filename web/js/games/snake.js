// Snake: 2-4 snakes on a grid, moved by the server `tick_hz` times a second. The board is a
// canvas; steering is `{"dir": "up"|"down"|"left"|"right"}` from the arrow keys, WASD or the
// on-screen pad. Each `tick` event carries the whole board, so catching up after a resume is
// taking the latest one.

import { el } from '../dom.js';

const DIRS = ['up', 'left', 'down', 'right'];
const OPPOSITE = { up: 'down', down: 'up', left: 'right', right: 'left' };
const KEYS = {
  ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right',
  w: 'up', s: 'down', a: 'left', d: 'right', W: 'up', S: 'down', A: 'left', D: 'right',
};
const ARROWS = { up: '▲', down: '▼', left: '◀', right: '▶' };
/** Seat colours: distinguishable for the common colour-vision deficiencies (Okabe-Ito). */
const COLOURS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7'];
const COLOUR_NAMES = ['Blue', 'Orange', 'Green', 'Pink'];
const MAX_BOARD_PX = 720;

function snakeOf(view, seat) {
  return view && view.snakes ? view.snakes.find((s) => s.seat === seat) : null;
}

export default {
  kind: 'snake',
  title: 'Snake',
  blurb: '2 to 4 players steer at once. Eat to grow; walls and bodies kill. Last snake wins.',
  options: [
    { name: 'players', label: 'Players', min: 2, max: 4, value: 2 },
    { name: 'tick_hz', label: 'Speed (moves per second)', min: 5, max: 60, value: 10 },
    { name: 'width', label: 'Board width', min: 10, max: 64, value: 32 },
    { name: 'height', label: 'Board height', min: 10, max: 64, value: 24 },
  ],
  reduce(view, event) {
    if (event.kind !== 'tick' || !view) return view;
    const { tick, snakes, food } = event.data;
    return { ...view, tick, snakes, food };
  },

  /** Ticks come many times a second: the move log and screen readers hear of crashes only. */
  describe(event, ctx, before) {
    if (event.kind !== 'tick' || !before) return null;
    const crashed = event.data.snakes
      .filter((s) => !s.alive && snakeOf(before, s.seat)?.alive)
      .map((s) => `${ctx.name(s.seat)} crashed (length ${s.length})`);
    return crashed.length ? `${crashed.join('; ')}.` : null;
  },

  turn() {
    return null;
  },

  /** The status line while playing: there are no turns, only your snake. */
  statusText(view, info) {
    if (info.role !== 'player') return 'You are watching.';
    const mine = snakeOf(view, info.seat);
    return mine && !mine.alive ? 'Your snake crashed: watch the others finish.' : 'Go! Steer your snake.';
  },

  seatLabel(seat) {
    return COLOUR_NAMES[seat] || `Seat ${seat + 1}`;
  },

  mount(host, ctx) {
    let view = null;
    let info = null;
    let lastSent = null;
    const canvas = el('canvas', { class: 'snake-board', role: 'img', 'aria-label': 'Snake board' });
    const legend = el('ul', { class: 'snake-legend' });
    const hint = el('p', { class: 'muted snake-hint' }, 'Steer with the arrow keys, W A S D, or the buttons.');
    const pad = el('div', { class: 'snake-pad', role: 'group', 'aria-label': 'Steer' },
      DIRS.map((dir) => el('button', {
        type: 'button',
        class: `pad-${dir}`,
        'data-dir': dir,
        'aria-label': dir[0].toUpperCase() + dir.slice(1),
        on: {
          // pointerdown reacts before click on touch screens: a tick is only 1/tick_hz long.
          pointerdown: (event) => {
            event.preventDefault();
            steer(dir);
          },
          click: (event) => {
            // Keyboard activation (Enter/Space) arrives as a click without a pointerdown.
            if (event.detail === 0) steer(dir);
          },
        },
      }, ARROWS[dir])));
    host.append(canvas, legend, pad, hint);

    function mySnake() {
      return info && info.role === 'player' ? snakeOf(view, info.seat) : null;
    }

    function steer(dir) {
      const snake = mySnake();
      if (!snake || !snake.alive || info.status !== 'playing') return;
      // Reversing is refused by the server; repeating the heading changes nothing.
      if (dir === OPPOSITE[snake.dir] || (dir === snake.dir && lastSent === null) || dir === lastSent) return;
      lastSent = dir;
      ctx.act({ dir });
    }

    function onKey(event) {
      const dir = KEYS[event.key];
      if (!dir || event.altKey || event.ctrlKey || event.metaKey) return;
      const target = event.target;
      // Typing in the chat box is not steering.
      if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT')) return;
      if (!mySnake()) return;
      event.preventDefault();
      steer(dir);
    }
    document.addEventListener('keydown', onKey);

    function draw() {
      if (!view) return;
      const styles = getComputedStyle(document.documentElement);
      const available = Math.min(host.clientWidth || MAX_BOARD_PX, MAX_BOARD_PX);
      const cell = Math.max(6, Math.floor(available / view.width));
      const w = cell * view.width;
      const h = cell * view.height;
      const ratio = window.devicePixelRatio || 1;
      if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
        canvas.width = Math.round(w * ratio);
        canvas.height = Math.round(h * ratio);
        canvas.style.width = `${w}px`;
        canvas.style.height = `${h}px`;
      }
      const g = canvas.getContext('2d');
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      g.fillStyle = styles.getPropertyValue('--board').trim() || '#eef0f4';
      g.fillRect(0, 0, w, h);
      // A faint grid helps judge distances.
      g.strokeStyle = styles.getPropertyValue('--board-grid').trim() || '#e0e3ea';
      g.lineWidth = 1;
      g.beginPath();
      for (let x = 1; x < view.width; x += 1) {
        g.moveTo(x * cell + 0.5, 0);
        g.lineTo(x * cell + 0.5, h);
      }
      for (let y = 1; y < view.height; y += 1) {
        g.moveTo(0, y * cell + 0.5);
        g.lineTo(w, y * cell + 0.5);
      }
      g.stroke();
      g.fillStyle = styles.getPropertyValue('--food').trim() || '#e0a800';
      for (const [x, y] of view.food) {
        g.beginPath();
        g.arc(x * cell + cell / 2, y * cell + cell / 2, cell * 0.38, 0, Math.PI * 2);
        g.fill();
      }
      for (const snake of view.snakes) {
        if (!snake.alive) continue;
        const colour = COLOURS[snake.seat % COLOURS.length];
        snake.body.forEach(([x, y], i) => {
          g.globalAlpha = i === 0 ? 1 : 0.8;
          g.fillStyle = colour;
          const inset = i === 0 ? 0.5 : 1.5;
          g.fillRect(x * cell + inset, y * cell + inset, cell - 2 * inset, cell - 2 * inset);
        });
        g.globalAlpha = 1;
        const [hx, hy] = snake.body[0] || [];
        if (hx !== undefined) {
          // Eyes show the heading.
          g.fillStyle = '#ffffff';
          const eye = Math.max(1.5, cell * 0.12);
          const cx = hx * cell + cell / 2;
          const cy = hy * cell + cell / 2;
          const [dx, dy] = { up: [0, -1], down: [0, 1], left: [-1, 0], right: [1, 0] }[snake.dir];
          for (const side of [-1, 1]) {
            g.beginPath();
            g.arc(cx + dx * cell * 0.18 + dy * side * cell * 0.2, cy + dy * cell * 0.18 + dx * side * cell * 0.2, eye, 0, Math.PI * 2);
            g.fill();
          }
        }
      }
    }

    function drawLegend() {
      const rows = view.snakes.map((snake) => el('li', {
        class: `snake-row ${snake.alive ? '' : 'dead'}`,
        'data-seat': snake.seat,
      },
      el('span', { class: `swatch swatch-${snake.seat}`, 'aria-hidden': 'true' }),
      el('span', {}, `${info.name(snake.seat)}: length ${snake.length}${snake.alive ? '' : ' (crashed)'}`)));
      legend.replaceChildren(...rows);
    }

    function onResize() {
      draw();
    }
    window.addEventListener('resize', onResize);

    return {
      update(nextView, nextInfo) {
        info = nextInfo;
        const previous = view;
        view = nextView;
        const playing = info.role === 'player' && info.status === 'playing';
        pad.hidden = info.role !== 'player' || info.status === 'over';
        hint.hidden = info.role !== 'player' || info.status === 'over';
        for (const button of pad.querySelectorAll('button')) button.disabled = !playing || !mySnake()?.alive;
        if (!view) return;
        const snake = mySnake();
        if (snake && previous && snake.dir !== snakeOf(previous, info.seat)?.dir) lastSent = null;
        if (snake && snake.dir === lastSent) lastSent = null;
        draw();
        // Names are part of the key: a player's name can arrive after their snake does.
        const legendKey = JSON.stringify(view.snakes.map((s) => [info.name(s.seat), s.length, s.alive]));
        if (legendKey !== legend.dataset.key) {
          legend.dataset.key = legendKey;
          drawLegend();
        }
        canvas.dataset.tick = String(view.tick);
        canvas.setAttribute('aria-label', snake
          ? `Snake board, ${view.width} by ${view.height}. Your snake is ${COLOUR_NAMES[info.seat].toLowerCase()}, length ${snake.length}${snake.alive ? `, heading ${snake.dir}` : ', crashed'}.`
          : `Snake board, ${view.width} by ${view.height}.`);
      },
      destroy() {
        document.removeEventListener('keydown', onKey);
        window.removeEventListener('resize', onResize);
        canvas.remove();
        legend.remove();
        pad.remove();
        hint.remove();
      },
    };
  },
};
