// What the client keeps across reloads. The identity lives in sessionStorage (one per tab, so
// two tabs can be two players); the last name typed is remembered in localStorage to prefill
// the form. Storage can be unavailable (private modes, quotas): then nothing is remembered and
// the client still works.

const TOKEN_KEY = 'gamehall.identity';
const NAME_KEY = 'gamehall.name';
const roomKey = (id) => `gamehall.room.${id}`;
const intentKey = (id) => `gamehall.intent.${id}`;

function read(storage, key) {
  try {
    const raw = storage.getItem(key);
    return raw === null ? null : JSON.parse(raw);
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (value === null || value === undefined) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // Full or disabled storage: the client just forgets.
  }
}

/** `{token, player_id, name, expires_at}` or null when absent or expired. */
export function identity() {
  const saved = read(sessionStorage, TOKEN_KEY);
  if (!saved || typeof saved.token !== 'string') return null;
  // A minute of margin: a token about to expire would be refused on the next reconnect.
  if (typeof saved.expires_at === 'number' && saved.expires_at * 1000 < Date.now() + 60_000) return null;
  return saved;
}

export function saveIdentity(issued) {
  write(sessionStorage, TOKEN_KEY, issued);
  if (issued) write(localStorage, NAME_KEY, issued.name);
}

export function rememberedName() {
  const name = read(localStorage, NAME_KEY);
  return typeof name === 'string' ? name : '';
}

/** The last snapshot of a room: `{seq, view, role, seat, game, players, status, outcome}`. */
export function roomSnapshot(id) {
  return read(sessionStorage, roomKey(id));
}

export function saveRoomSnapshot(id, snapshot) {
  write(sessionStorage, roomKey(id), snapshot);
}

/** How the player asked to enter a room: 'player' or 'spectator'. */
export function roomIntent(id) {
  const intent = read(sessionStorage, intentKey(id));
  return intent === 'spectator' ? 'spectator' : 'player';
}

export function saveRoomIntent(id, intent) {
  write(sessionStorage, intentKey(id), intent);
}

export function forgetRoom(id) {
  write(sessionStorage, roomKey(id), null);
  write(sessionStorage, intentKey(id), null);
}
