// The game page: one room over one WebSocket. It joins (or, after a reload or a dropped
// connection, resumes from the last event it applied), keeps the game's view up to date from
// `state` frames and events, and shows players, chat, moves, errors and the result.

import { Connection } from './connection.js';
import { byId, el, replaceChildren, showText, announce } from './dom.js';
import * as store from './store.js';
import { gameKind } from './games/index.js';

const MAX_LOG_LINES = 200;
const SAVE_EVERY_MS = 250;
const SUMMARY_EVERY_MS = 3000;
const ERROR_SHOWN_MS = 6000;

/** Friendly words for the errors a player can cause (docs/protocol.md, section 7). */
const ERROR_TEXT = {
  not_your_turn: 'It is not your turn.',
  illegal_move: null, // the server's message says which rule
  game_not_started: 'The game starts when every seat is taken.',
  game_over: 'The game is over.',
  not_a_player: 'Spectators cannot play.',
  chat_too_long: 'Chat lines are at most 500 characters.',
};

export class RoomPage {
  /**
   * @param {object} options
   * @param {{token: string, player_id: string, name: string}} options.identity
   * @param {string} options.roomId
   * @param {(status: string, text?: string) => void} options.setLinkStatus
   * @param {() => void} options.onExit called when the player leaves for the lobby
   */
  constructor({ identity, roomId, setLinkStatus, onExit }) {
    this.identity = identity;
    this.roomId = roomId;
    this.setLinkStatus = setLinkStatus;
    this.onExit = onExit;
    this.intent = store.roomIntent(roomId);
    const saved = store.roomSnapshot(roomId);
    this.s = {
      role: saved?.role ?? null,
      seat: saved?.seat ?? null,
      game: saved?.game ?? null,
      seq: saved?.seq ?? 0,
      view: saved?.view ?? null,
      players: saved?.players ?? [],
      status: saved?.status ?? 'connecting',
      outcome: saved?.outcome ?? null,
      spectators: null,
      // The turn clock of games with turn timers: {seat, endsAt} in this browser's time.
      clock: null,
    };
    // While catching up after `resume`, events up to this seq are history: they update the
    // view but are not announced and do not set the clock.
    this.replayUntil = 0;
    this.clockTimer = null;
    this.playersKey = '';
    this.kind = null;
    this.renderer = null;
    this.rendererKind = null;
    this.saveTimer = null;
    this.errorTimer = null;
    this.summaryTimer = null;
    this.inRoom = false;
    this.gone = false;
    this.listeners = [];
    this.connection = new Connection(identity.token, {
      onHello: () => this.enter(),
      onMessage: (msg) => this.receive(msg),
      onStatus: (status, reason) => this.linkStatus(status, reason),
    });
  }

  start() {
    byId('room-title').textContent = 'Room';
    byId('room-meta').textContent = `Room ${this.roomId}`;
    replaceChildren(byId('chat-log'));
    replaceChildren(byId('event-log'));
    replaceChildren(byId('board'));
    showText(byId('room-notice'), '');
    showText(byId('game-over'), '');
    byId('room-error').textContent = '';
    byId('countdown').hidden = true;
    this.listen(byId('chat-form'), 'submit', (event) => {
      event.preventDefault();
      this.sendChat();
    });
    this.listen(byId('leave-button'), 'click', () => this.leave());
    // Keep the snapshot current when the page goes away, so a reload resumes from here.
    this.listen(window, 'pagehide', () => this.save());
    this.render();
    this.clockTimer = window.setInterval(() => this.renderClock(), 250);
    this.connection.open();
    this.refreshSummary();
    this.summaryTimer = window.setInterval(() => this.refreshSummary(), SUMMARY_EVERY_MS);
  }

  /** Leaving the page for another view: the seat is kept for the reconnect grace. */
  stop() {
    this.save();
    for (const [target, name, fn] of this.listeners) target.removeEventListener(name, fn);
    this.listeners = [];
    window.clearInterval(this.summaryTimer);
    window.clearTimeout(this.saveTimer);
    window.clearTimeout(this.errorTimer);
    window.clearInterval(this.clockTimer);
    this.connection.close();
    if (this.renderer) this.renderer.destroy();
    this.renderer = null;
  }

  listen(target, name, fn) {
    target.addEventListener(name, fn);
    this.listeners.push([target, name, fn]);
  }

  // ---- the connection ---------------------------------------------------------------------

  /** After every `hello`: resume when there is a view to bring up to date, join otherwise. */
  enter() {
    if (this.gone) return;
    this.inRoom = false;
    if (this.s.view !== null && this.s.seq > 0) {
      this.connection.send({ type: 'resume', room: this.roomId, since_seq: this.s.seq });
    } else {
      this.connection.send({ type: 'join', room: this.roomId, as: this.intent });
    }
  }

  linkStatus(status, reason) {
    const text = {
      connecting: 'Connecting…',
      online: 'Connected',
      reconnecting: 'Connection lost; reconnecting…',
      closed: reason || '',
    }[status];
    this.setLinkStatus(status, text);
    if (status === 'closed' && reason) this.notice(reason);
  }

  receive(msg) {
    switch (msg.type) {
      case 'joined':
        this.inRoom = true;
        Object.assign(this.s, {
          role: msg.role,
          seat: msg.seat,
          game: msg.game,
          seq: msg.seq,
          view: msg.state,
          players: msg.players,
          status: msg.state === null ? 'waiting' : 'playing',
          outcome: null,
        });
        this.setClock(msg.turn_deadline);
        this.refreshSummary();
        break;
      case 'resumed':
        this.inRoom = true;
        this.refreshSummary();
        Object.assign(this.s, {
          role: msg.role, seat: msg.seat, game: msg.game, players: msg.players,
        });
        if (this.s.status === 'connecting') this.s.status = 'playing';
        this.replayUntil = msg.seq;
        this.setClock(msg.turn_deadline);
        break;
      case 'state':
        this.s.view = msg.state;
        this.s.seq = msg.seq;
        if (this.s.status !== 'over') this.s.status = 'playing';
        break;
      case 'event':
        this.applyEvent(msg);
        break;
      case 'game_over':
        this.s.status = 'over';
        this.s.clock = null;
        this.s.outcome = msg.outcome;
        this.s.seq = Math.max(this.s.seq, msg.seq);
        announce(this.resultText());
        break;
      case 'presence':
        this.presence(msg);
        break;
      case 'chat':
        this.chatLine(msg);
        return;
      case 'left':
        this.inRoom = false;
        return;
      case 'error':
        this.error(msg);
        break;
      case 'server_shutdown':
        this.notice('The server is restarting. Running games may end; this page will reconnect.');
        return;
      default:
        return;
    }
    this.render();
    this.scheduleSave();
  }

  applyEvent(msg) {
    // After a resume the room replays from our seq; anything older was applied already.
    if (msg.seq <= this.s.seq) return;
    this.s.seq = msg.seq;
    const replayed = msg.seq <= this.replayUntil;
    const say = (line, quiet = false) => {
      this.logLine(line);
      if (!replayed && !quiet) announce(line);
    };
    switch (msg.kind) {
      case 'started':
        this.s.players = msg.data.players || this.s.players;
        this.s.status = 'playing';
        say('The game has started.');
        return;
      case 'forfeit': {
        const why = {
          left: 'left the game',
          disconnected: 'did not come back in time',
          turn_timeout: 'ran out of time',
        }[msg.data.reason] || 'was stopped by the server';
        say(`${this.name(msg.data.seat)} ${why} and forfeits.`);
        return;
      }
      case 'turn':
        if (!replayed) this.setClock(msg.data);
        return;
      case 'turn_timeout': {
        const rule = { skip: 'the turn passes', auto_move: 'a move was made for them', forfeit: 'they forfeit' }[msg.data.rule]
          || msg.data.rule;
        if (!replayed) this.s.clock = null;
        say(`${this.name(msg.data.seat)} ran out of time: ${rule}.`);
        return;
      }
      default:
        break;
    }
    const kind = this.kindModule();
    const before = this.s.view;
    const turnBefore = this.turn();
    if (kind && before !== null) {
      this.s.view = kind.reduce(before, msg, this.context());
    }
    const line = kind && kind.describe ? kind.describe(msg, this.context(), before) : null;
    if (line) say(line);
    const turn = this.turn();
    if (!replayed && this.s.role === 'player' && turn === this.s.seat && turnBefore !== turn) {
      // One message: a second announcement right after the first would replace it.
      announce(line ? `${line} Your turn.` : 'Your turn.');
    }
  }

  /** A turn clock from the server (`{seat, deadline_ms, remaining_ms}`), or none. */
  setClock(clock) {
    // `remaining_ms` is measured on the server when it sent the frame: counting down from it
    // needs no agreement between the two machines' clocks.
    this.s.clock = clock && typeof clock.remaining_ms === 'number'
      ? { seat: clock.seat, endsAt: Date.now() + clock.remaining_ms }
      : null;
  }

  presence(msg) {
    const players = this.s.players.filter((p) => p.seat !== msg.seat);
    const text = {
      joined: `${msg.name} joined.`,
      left: `${msg.name} left.`,
      disconnected: `${msg.name} lost the connection.`,
      reconnected: `${msg.name} is back.`,
      forfeited: `${msg.name} did not come back in time.`,
    }[msg.status];
    if (msg.status !== 'left' || this.s.status !== 'waiting') {
      players.push({
        seat: msg.seat,
        player: msg.player,
        name: msg.name,
        connected: msg.status === 'joined' || msg.status === 'reconnected',
      });
    }
    players.sort((a, b) => a.seat - b.seat);
    this.s.players = players;
    if (text && msg.player !== this.identity.player_id) {
      this.logLine(text);
      announce(text);
    }
  }

  error(msg) {
    switch (msg.code) {
      case 'room_full':
        // Watching is the next best thing to a seat.
        this.intent = 'spectator';
        store.saveRoomIntent(this.roomId, 'spectator');
        this.notice('Every seat is taken: you are watching this game.');
        this.connection.send({ type: 'join', room: this.roomId, as: 'spectator' });
        return;
      case 'invalid_seq':
        // The room is not where our snapshot says (it should not happen): start from its state.
        this.s.view = null;
        this.s.seq = 0;
        this.connection.send({ type: 'join', room: this.roomId, as: this.intent });
        return;
      case 'room_not_found':
      case 'room_crashed':
        this.gone = true;
        this.inRoom = false;
        this.s.status = 'gone';
        store.forgetRoom(this.roomId);
        this.notice(msg.code === 'room_crashed'
          ? 'This room failed and was closed. Other rooms are not affected.'
          : 'This room does not exist any more.');
        this.connection.close();
        return;
      case 'session_replaced':
        this.inRoom = false;
        this.notice('You opened this room somewhere else; this page stopped following it. Reload to take it back.');
        this.connection.close();
        return;
      case 'already_in_room':
        return;
      case 'rate_limited':
        this.showError(`Slow down a little (try again in ${Math.ceil((msg.retry_after_ms || 1000) / 1000)} s).`);
        return;
      default: {
        const text = ERROR_TEXT[msg.code] || msg.message || msg.code;
        this.showError(text);
      }
    }
  }

  // ---- actions ----------------------------------------------------------------------------

  act(action) {
    if (!this.inRoom || this.connection.send({ type: 'act', action }) === null) {
      this.showError('Not connected: wait a moment and try again.');
    }
  }

  sendChat() {
    const input = byId('chat-input');
    const text = input.value.trim();
    if (!text) return;
    if (!this.inRoom || this.connection.send({ type: 'chat', text }) === null) {
      this.showError('Not connected: your message was not sent.');
      return;
    }
    input.value = '';
  }

  leave() {
    const seated = this.s.role === 'player' && this.s.status === 'playing';
    // eslint-disable-next-line no-alert
    if (seated && !window.confirm('Leaving a running game forfeits it. Leave anyway?')) return;
    if (this.inRoom) this.connection.send({ type: 'leave' });
    store.forgetRoom(this.roomId);
    this.gone = true;
    // Let the `leave` frame go out before the socket closes.
    window.setTimeout(() => this.onExit(), 50);
  }

  // ---- helpers ----------------------------------------------------------------------------

  kindModule() {
    return this.s.game ? gameKind(this.s.game) : null;
  }

  name(seat) {
    if (seat === this.s.seat && this.s.role === 'player') return 'You';
    const player = this.s.players.find((p) => p.seat === seat);
    return player ? player.name : `Seat ${seat + 1}`;
  }

  turn() {
    const kind = this.kindModule();
    if (!this.s.view) return null;
    const turn = kind && kind.turn ? kind.turn(this.s.view) : this.s.view.turn;
    return typeof turn === 'number' ? turn : null;
  }

  context() {
    return {
      seat: this.s.seat,
      role: this.s.role,
      name: (seat) => this.name(seat),
    };
  }

  info() {
    const turn = this.turn();
    return {
      seat: this.s.seat,
      role: this.s.role,
      status: this.s.status,
      players: this.s.players,
      outcome: this.s.outcome,
      turn,
      myTurn: this.s.role === 'player' && turn !== null && turn === this.s.seat,
      name: (seat) => this.name(seat),
    };
  }

  notice(text) {
    showText(byId('room-notice'), text);
  }

  showError(text) {
    const node = byId('room-error');
    node.textContent = text;
    window.clearTimeout(this.errorTimer);
    this.errorTimer = window.setTimeout(() => { node.textContent = ''; }, ERROR_SHOWN_MS);
  }

  logLine(text) {
    const log = byId('event-log');
    log.append(el('li', {}, text));
    while (log.childElementCount > MAX_LOG_LINES) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  chatLine(msg) {
    const log = byId('chat-log');
    const mine = msg.from === this.identity.player_id;
    log.append(el('li', { class: mine ? 'mine' : '' },
      el('span', { class: 'who' }, mine ? 'You' : msg.name), ': ',
      el('span', { class: 'text' }, msg.text)));
    while (log.childElementCount > MAX_LOG_LINES) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  resultText() {
    const outcome = this.s.outcome;
    if (!outcome) return '';
    const winners = outcome.winners || [];
    const iWon = this.s.role === 'player' && winners.includes(this.s.seat);
    const names = winners.map((seat) => this.name(seat)).join(' and ');
    let text;
    switch (outcome.result) {
      case 'win':
        text = iWon ? 'You win!' : `${names} ${winners.length > 1 ? 'win' : 'wins'}.`;
        break;
      case 'draw':
        text = 'Draw: nobody wins.';
        break;
      case 'forfeit': {
        const gone = (outcome.forfeited || []).map((seat) => this.name(seat)).join(' and ');
        text = `${gone} forfeited. ${iWon ? 'You win!' : `${names} ${winners.length > 1 ? 'win' : 'wins'}.`}`;
        break;
      }
      case 'abandoned':
        text = 'The game was abandoned: nobody wins.';
        break;
      default:
        text = 'The game is over.';
    }
    if (Array.isArray(outcome.scores)) {
      text += ` Scores: ${outcome.scores.map((score, seat) => `${this.name(seat)} ${score}`).join(', ')}.`;
    }
    return text;
  }

  statusText(info) {
    switch (this.s.status) {
      case 'connecting':
        return 'Connecting…';
      case 'waiting': {
        const kind = this.kindModule();
        return `Waiting for players${kind ? ` (${kind.title})` : ''}…`;
      }
      case 'over':
        return 'Game over.';
      case 'gone':
        return '';
      default:
        if (this.s.view && this.kindModule()?.statusText) return this.kindModule().statusText(this.s.view, info);
        if (info.role === 'spectator') {
          return info.turn === null ? 'You are watching.' : `You are watching. ${this.name(info.turn)} to play.`;
        }
        if (info.turn === null) return '';
        return info.myTurn ? 'Your turn.' : `${this.name(info.turn)} to play.`;
    }
  }

  async refreshSummary() {
    if (this.gone || document.hidden) return;
    try {
      const response = await fetch(`/v1/rooms/${encodeURIComponent(this.roomId)}`, { cache: 'no-store' });
      if (!response.ok) return;
      const summary = await response.json();
      this.s.spectators = summary.spectators;
      this.s.seats = summary.seats;
      this.renderPlayers();
    } catch {
      // The WebSocket reports connection trouble; the count can wait.
    }
  }

  // ---- drawing ----------------------------------------------------------------------------

  render() {
    const kind = this.kindModule();
    const info = this.info();
    byId('room-title').textContent = kind ? kind.title : (this.s.game || 'Room');
    const role = this.s.role === 'player' ? `you are seat ${this.s.seat + 1}`
      : this.s.role === 'spectator' ? 'you are watching' : '';
    byId('room-meta').textContent = `Room ${this.roomId}${role ? ` · ${role}` : ''}`;
    const page = byId('view-room');
    page.dataset.status = this.s.status;
    page.dataset.role = this.s.role || '';
    page.dataset.seq = String(this.s.seq);
    page.dataset.myTurn = String(info.myTurn && this.s.status === 'playing');
    byId('status-line').textContent = this.statusText(info);
    byId('status-line').classList.toggle('my-turn', info.myTurn && this.s.status === 'playing');
    const leave = byId('leave-button');
    leave.textContent = this.s.status === 'over' || this.s.status === 'gone' || this.s.role !== 'player'
      ? 'Back to lobby' : 'Leave room';
    byId('chat-input').disabled = this.gone;
    this.renderPlayers();
    this.renderBoard(kind, info);
    this.renderClock();
    const over = byId('game-over');
    if (this.s.status === 'over') {
      const won = this.s.role === 'player' && (this.s.outcome?.winners || []).includes(this.s.seat);
      over.className = `game-over ${won ? 'won' : ''}`;
      showText(over, this.resultText());
    } else {
      showText(over, '');
    }
  }

  renderClock() {
    const node = byId('countdown');
    const clock = this.s.status === 'playing' ? this.s.clock : null;
    if (!clock) {
      node.hidden = true;
      return;
    }
    const left = Math.max(0, Math.ceil((clock.endsAt - Date.now()) / 1000));
    const mine = this.s.role === 'player' && clock.seat === this.s.seat;
    node.hidden = false;
    node.dataset.seat = String(clock.seat);
    node.classList.toggle('urgent', left <= 5);
    node.textContent = mine ? `${left} s left for your move` : `${this.name(clock.seat)}: ${left} s left`;
  }

  renderBoard(kind, info) {
    const host = byId('board');
    if (!this.s.game) return;
    if (this.rendererKind !== this.s.game) {
      if (this.renderer) this.renderer.destroy();
      replaceChildren(host);
      this.rendererKind = this.s.game;
      this.renderer = kind ? kind.mount(host, { act: (action) => this.act(action) }) : rawRenderer(host);
    }
    this.renderer.update(this.s.view, info);
  }

  renderPlayers() {
    const list = byId('player-list');
    const turn = this.s.status === 'playing' ? this.turn() : null;
    const kind = this.kindModule();
    // Real-time games render many times a second; the list changes far less often.
    const key = JSON.stringify([this.s.players, turn, this.s.seats, this.s.status, this.s.spectators,
      kind && kind.seatLabel ? this.s.players.map((p) => kind.seatLabel(p.seat, this.s.view)) : null]);
    if (key === this.playersKey) return;
    this.playersKey = key;
    const items = this.s.players.map((p) => {
      const me = p.player === this.identity.player_id;
      const label = kind && kind.seatLabel ? kind.seatLabel(p.seat, this.s.view) : `Seat ${p.seat + 1}`;
      return el('li', {
        class: `player ${p.connected ? '' : 'away'} ${turn === p.seat ? 'on-turn' : ''}`,
        'aria-current': turn === p.seat ? 'true' : undefined,
        'data-seat': p.seat,
      },
      el('span', { class: 'seat-label' }, label),
      el('span', { class: 'player-name' }, p.name, me ? ' (you)' : ''),
      el('span', { class: 'presence' }, p.connected ? '' : 'away'));
    });
    if (this.s.seats && this.s.status === 'waiting') {
      for (let seat = this.s.players.length; seat < this.s.seats; seat += 1) {
        items.push(el('li', { class: 'player open' }, el('span', { class: 'seat-label' }, `Seat ${seat + 1}`),
          el('span', { class: 'player-name muted' }, 'open seat')));
      }
    }
    replaceChildren(list, items);
    const count = this.s.spectators;
    byId('spectator-count').textContent = typeof count === 'number'
      ? `${count} watching` : '';
  }

  // ---- persistence ------------------------------------------------------------------------

  scheduleSave() {
    if (this.saveTimer) return;
    this.saveTimer = window.setTimeout(() => {
      this.saveTimer = null;
      this.save();
    }, SAVE_EVERY_MS);
  }

  save() {
    if (this.gone) return;
    const { role, seat, game, seq, view, players, status, outcome } = this.s;
    if (!game) return;
    store.saveRoomSnapshot(this.roomId, { role, seat, game, seq, view, players, status, outcome });
  }
}

/** For a game kind this client does not know: its view as text, so it can still be watched. */
function rawRenderer(host) {
  const pre = el('pre', { class: 'raw-view' });
  host.append(pre);
  return {
    update(view) {
      pre.textContent = view === null ? '' : JSON.stringify(view, null, 2);
    },
    destroy() {
      pre.remove();
    },
  };
}
