// The admin page: `GET /admin/status` every two seconds (rooms, archive, key metrics) and the
// archive flush button, both with `Authorization: Bearer <ADMIN_TOKEN>`. The token is kept in
// sessionStorage only: it is gone when the tab closes.

import * as api from './api.js';
import { byId, el, replaceChildren, showText } from './dom.js';

const TOKEN_KEY = 'gamehall.admin';
const POLL_MS = 2000;
let timer = null;

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Without storage the token lives only in this page.
  }
  memoryToken = value;
}

let memoryToken = token();

function bytes(n) {
  if (typeof n !== 'number') return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function duration(seconds) {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

function stat(key, label, value, alert = false) {
  return el('div', { class: `stat${alert ? ' alert' : ''}`, 'data-stat': key },
    el('dt', {}, label), el('dd', {}, String(value)));
}

function showLogin(message) {
  window.clearTimeout(timer);
  byId('admin-panel').hidden = true;
  byId('admin-login').hidden = false;
  byId('sign-out').hidden = true;
  byId('login-error').textContent = message || '';
  byId('admin-link').textContent = '';
  byId('admin-token').focus();
}

function showPanel() {
  byId('admin-login').hidden = true;
  byId('admin-panel').hidden = false;
  byId('sign-out').hidden = false;
}

function render(status) {
  const m = status.metrics;
  replaceChildren(byId('metrics'), [
    stat('connections', 'Connections', m.connections),
    stat('active_rooms', 'Active rooms', `${m.active_rooms} / ${m.max_active_games}`),
    stat('playing_games', 'Games playing', m.playing_games),
    stat('rooms', 'Rooms in memory', m.rooms),
    stat('games_started', 'Games started', m.games_started),
    stat('games_finished', 'Games finished', m.games_finished),
    stat('moves', 'Moves', m.moves),
    stat('rss', 'Memory (RSS)', `${bytes(m.rss_bytes)} / ${bytes(m.memory_limit_bytes)}`,
      typeof m.rss_bytes === 'number' && m.rss_bytes > 0.9 * m.memory_limit_bytes),
    stat('uptime', 'Uptime', duration(m.uptime_seconds)),
  ]);

  const a = status.archive;
  if (a) {
    replaceChildren(byId('archive'), [
      stat('pending', 'Pending', a.pending),
      stat('spooled', 'Spooled', a.spooled, a.spooled > 0),
      stat('written', 'Written', a.written),
      stat('failed', 'Failed', a.failed, a.failed > 0),
      stat('rejected', 'Rejected', a.rejected, a.rejected > 0),
      stat('state', 'State', a.degraded ? 'degraded' : 'ok', a.degraded),
    ]);
    showText(byId('archive-error'), a.last_error ? `Last error: ${a.last_error}` : '');
    byId('flush-button').disabled = false;
  } else {
    replaceChildren(byId('archive'), [stat('state', 'State', 'archiving is off')]);
    showText(byId('archive-error'), '');
    byId('flush-button').disabled = true;
  }

  const now = Date.now() / 1000;
  const rows = status.rooms.map((room) => el('tr', { 'data-room': room.id },
    el('td', {}, el('code', {}, room.id)),
    el('td', {}, room.game),
    el('td', {}, el('span', { class: `badge ${room.status}` }, room.status)),
    el('td', {}, room.players.length === 0 ? el('span', { class: 'muted' }, 'none')
      : room.players.map((p, i) => [i ? ', ' : '', p.name, p.connected ? '' : ' (away)'])),
    el('td', { class: 'num' }, `${room.spectators}`),
    el('td', { class: 'num' }, `${room.seq}`),
    el('td', { class: 'num' }, duration(Math.max(0, Math.round(now - room.created_at))))));
  replaceChildren(byId('room-rows'), rows);
  byId('room-count').textContent = `(${status.rooms.length})`;
  byId('rooms-empty').hidden = status.rooms.length > 0;
  byId('admin-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function poll() {
  window.clearTimeout(timer);
  if (!memoryToken) {
    showLogin();
    return;
  }
  if (!document.hidden) {
    try {
      const status = await api.adminStatus(memoryToken);
      showPanel();
      render(status);
      byId('admin-error').textContent = '';
      byId('admin-link').textContent = '';
    } catch (err) {
      if (err.status === 401) {
        setToken(null);
        showLogin('That token was refused.');
        return;
      }
      byId('admin-link').textContent = err.message;
    }
  }
  timer = window.setTimeout(poll, POLL_MS);
}

async function flush() {
  const button = byId('flush-button');
  const result = byId('flush-result');
  button.disabled = true;
  result.textContent = 'Flushing…';
  try {
    const report = await api.flushArchive(memoryToken);
    result.textContent = `Flushed ${report.flushed} game${report.flushed === 1 ? '' : 's'}; ${report.pending} still pending.`;
  } catch (err) {
    if (err.status === 401) {
      setToken(null);
      showLogin('That token was refused.');
      return;
    }
    result.textContent = `Flush failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
  poll();
}

byId('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = byId('admin-token').value.trim();
  if (!value) {
    byId('login-error').textContent = 'Enter the admin token.';
    return;
  }
  byId('admin-token').value = '';
  setToken(value);
  poll();
});
byId('sign-out').addEventListener('click', () => {
  setToken(null);
  showLogin();
});
byId('flush-button').addEventListener('click', flush);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && memoryToken) poll();
});
poll();
