// The web client's entry point: a name first (a guest token), then the lobby (`#/`) or a
// room (`#/room/<id>`). The address names the room, so a reload comes back to it.

import * as api from './api.js';
import { byId } from './dom.js';
import { LobbyPage } from './lobby.js';
import { RoomPage } from './room.js';
import * as store from './store.js';

const VIEWS = ['view-name', 'view-lobby', 'view-room'];
let current = null;

function show(viewId) {
  const changed = byId(viewId).hidden;
  for (const id of VIEWS) byId(id).hidden = id !== viewId;
  // A new view is announced by moving focus to its start, as a page load would be; focus
  // stays put when the view does not change (a refresh of the same room).
  if (changed && viewId !== 'view-name') byId('main').focus({ preventScroll: false });
}

function setLinkStatus(status, text) {
  const node = byId('link-status');
  node.dataset.status = status;
  node.textContent = status === 'online' ? '' : (text || '');
}

function showIdentity(identity) {
  const who = byId('whoami');
  who.hidden = !identity;
  who.textContent = identity ? identity.name : '';
}

function roomFromHash() {
  const match = /^#\/room\/([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  return match ? match[1] : null;
}

function enterRoom(roomId, as) {
  store.saveRoomIntent(roomId, as);
  const target = `#/room/${roomId}`;
  if (location.hash === target) route();
  else location.hash = target;
}

function authLost() {
  store.saveIdentity(null);
  route();
}

/** Shows the page the address asks for. */
function route() {
  if (current) current.stop();
  current = null;
  setLinkStatus('idle', '');
  const identity = store.identity();
  showIdentity(identity);
  if (!identity) {
    askForName();
    return;
  }
  const roomId = roomFromHash();
  if (roomId) {
    show('view-room');
    document.title = 'gamehall: room';
    current = new RoomPage({
      identity,
      roomId,
      setLinkStatus,
      onExit: () => { location.hash = '#/'; },
    });
  } else {
    show('view-lobby');
    document.title = 'gamehall: lobby';
    current = new LobbyPage({ identity, onEnterRoom: enterRoom, onAuthLost: authLost });
  }
  current.start();
}

function askForName() {
  show('view-name');
  document.title = 'gamehall';
  const input = byId('name-input');
  if (!input.value) input.value = store.rememberedName();
  input.focus();
}

async function submitName(event) {
  event.preventDefault();
  const input = byId('name-input');
  const error = byId('name-error');
  const button = byId('name-form').querySelector('button[type=submit]');
  const name = input.value.trim();
  error.textContent = '';
  if (!name) {
    error.textContent = 'Please enter a name.';
    input.focus();
    return;
  }
  button.disabled = true;
  try {
    store.saveIdentity(await api.guest(name));
    route();
  } catch (err) {
    error.textContent = err.message;
    input.focus();
  } finally {
    button.disabled = false;
  }
}

byId('name-form').addEventListener('submit', submitName);
window.addEventListener('hashchange', route);
route();
