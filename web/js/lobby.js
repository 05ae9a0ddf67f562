// The lobby: create a room, and the rooms open on the server, refreshed every two seconds
// while the page is visible.

import * as api from './api.js';
import { byId, el, replaceChildren } from './dom.js';
import { GAMES, gameKind } from './games/index.js';

const POLL_MS = 2000;
const STATUS_ORDER = { waiting: 0, playing: 1, finished: 2 };

export class LobbyPage {
  /**
   * @param {object} options
   * @param {{token: string}} options.identity
   * @param {(roomId: string, as: 'player'|'spectator') => void} options.onEnterRoom
   * @param {() => void} options.onAuthLost the token was refused: ask for a name again
   */
  constructor({ identity, onEnterRoom, onAuthLost }) {
    this.identity = identity;
    this.onEnterRoom = onEnterRoom;
    this.onAuthLost = onAuthLost;
    this.timer = null;
    this.items = new Map();
    this.listeners = [];
    this.stopped = false;
  }

  start() {
    const select = byId('create-game');
    replaceChildren(select, GAMES.map((game) => el('option', { value: game.kind }, game.title)));
    this.renderOptions();
    this.listen(select, 'change', () => this.renderOptions());
    this.listen(byId('create-form'), 'submit', (event) => {
      event.preventDefault();
      this.create();
    });
    this.listen(document, 'visibilitychange', () => {
      if (!document.hidden) this.poll();
    });
    replaceChildren(byId('room-list'));
    this.items.clear();
    this.poll();
  }

  stop() {
    this.stopped = true;
    window.clearTimeout(this.timer);
    for (const [target, name, fn] of this.listeners) target.removeEventListener(name, fn);
    this.listeners = [];
  }

  listen(target, name, fn) {
    target.addEventListener(name, fn);
    this.listeners.push([target, name, fn]);
  }

  renderOptions() {
    const kind = gameKind(byId('create-game').value);
    const fields = (kind ? kind.options : []).map((option) => {
      const id = `option-${option.name}`;
      const helpId = option.help ? `${id}-help` : undefined;
      const input = option.choices
        ? el('select', { id, name: option.name, 'aria-describedby': helpId },
          option.choices.map(([value, label]) => el('option', { value, selected: value === option.value }, label)))
        : el('input', {
          id, name: option.name, type: 'number', 'aria-describedby': helpId, min: option.min, max: option.max, step: option.step || 1,
          value: option.value ?? '', required: !option.optional, inputMode: 'numeric',
          placeholder: option.optional ? 'none' : undefined,
        });
      return el('div', { class: 'field' },
        el('label', { for: id }, option.label),
        input,
        option.help ? el('small', { id: helpId, class: 'muted' }, option.help) : null);
    });
    replaceChildren(byId('create-options'), fields);
    byId('create-blurb').textContent = kind && kind.blurb ? kind.blurb : '';
  }

  /** The options as the create form holds them, numbers as numbers. */
  options(kind) {
    const options = {};
    for (const option of kind.options) {
      const raw = byId(`option-${option.name}`).value;
      if (option.choices) {
        const choice = option.choices.find(([value]) => value === raw);
        if (choice && choice[2] !== undefined) options[option.name] = choice[2];
        else if (raw !== '') options[option.name] = Number.isNaN(Number(raw)) ? raw : Number(raw);
      } else if (raw !== '') {
        options[option.name] = Number(raw);
      }
    }
    return options;
  }

  async create() {
    const kind = gameKind(byId('create-game').value);
    const error = byId('create-error');
    error.textContent = '';
    if (!kind) return;
    const button = byId('create-form').querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const room = await api.createRoom(this.identity.token, kind.kind, this.options(kind));
      this.onEnterRoom(room.id, 'player');
    } catch (err) {
      if (err.status === 401) {
        this.onAuthLost();
        return;
      }
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }

  async poll() {
    window.clearTimeout(this.timer);
    if (this.stopped) return;
    if (!document.hidden) {
      try {
        const { rooms } = await api.listRooms();
        if (this.stopped) return;
        this.renderRooms(rooms);
        byId('rooms-error').textContent = '';
        byId('rooms-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
      } catch (err) {
        if (this.stopped) return;
        byId('rooms-error').textContent = err.message;
      }
    }
    this.timer = window.setTimeout(() => this.poll(), POLL_MS);
  }

  renderRooms(rooms) {
    const shown = rooms
      .filter((room) => room.status in STATUS_ORDER)
      .sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || b.created_at - a.created_at);
    const list = byId('room-list');
    const keep = new Set(shown.map((room) => room.id));
    for (const [id, item] of this.items) {
      if (!keep.has(id)) {
        item.node.remove();
        this.items.delete(id);
      }
    }
    // Rows are updated in place, so focus and the screen reader's position survive a refresh.
    shown.forEach((room, index) => {
      let item = this.items.get(room.id);
      if (!item) {
        item = this.roomItem(room.id);
        this.items.set(room.id, item);
      }
      this.updateItem(item, room);
      if (list.children[index] !== item.node) list.insertBefore(item.node, list.children[index] || null);
    });
    byId('rooms-empty').hidden = shown.length > 0;
  }

  roomItem(id) {
    const title = el('strong', { class: 'room-game' });
    const badge = el('span', { class: 'badge' });
    const detail = el('span', { class: 'room-detail muted' });
    const join = el('button', {
      type: 'button', class: 'primary', 'data-action': 'join',
      on: { click: () => this.onEnterRoom(id, 'player') },
    }, 'Join');
    const watch = el('button', {
      type: 'button', 'data-action': 'watch',
      on: { click: () => this.onEnterRoom(id, 'spectator') },
    }, 'Watch');
    const node = el('li', { class: 'room-item', 'data-room': id },
      el('div', { class: 'room-text' }, el('div', {}, title, ' ', badge), detail),
      el('div', { class: 'room-buttons' }, join, watch));
    return { node, title, badge, detail, join, watch };
  }

  updateItem(item, room) {
    const kind = gameKind(room.game);
    const title = kind ? kind.title : room.game;
    const names = room.players.map((p) => p.name).join(', ') || 'nobody yet';
    item.title.textContent = title;
    item.badge.textContent = room.status;
    item.badge.className = `badge ${room.status}`;
    item.node.dataset.status = room.status;
    item.detail.textContent =
      `${names} · ${room.players.length}/${room.seats} seats · ${room.spectators} watching · ${room.id}`;
    const open = room.status === 'waiting' && room.players.length < room.seats;
    item.join.hidden = !open;
    item.join.setAttribute('aria-label', `Join ${title} room ${room.id} (${names})`);
    item.watch.setAttribute('aria-label', `Watch ${title} room ${room.id} (${names})`);
    item.watch.textContent = room.status === 'finished' ? 'See result' : 'Watch';
  }
}
