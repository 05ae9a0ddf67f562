// The HTTP API (docs/openapi.yaml): guest tokens and rooms.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, { token, body } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(response.status, error.code || `http_${response.status}`,
      error.message || `The server answered ${response.status}.`);
  }
  return data;
}

/** `{token, player_id, name, expires_at}` */
export const guest = (name) => call('POST', '/v1/auth/guest', { body: { name } });

export const listRooms = () => call('GET', '/v1/rooms');

export const createRoom = (token, game, options) =>
  call('POST', '/v1/rooms', { token, body: { game, options } });

export const getRoom = (id) => call('GET', `/v1/rooms/${encodeURIComponent(id)}`);

export const adminStatus = (adminToken) => call('GET', '/admin/status', { token: adminToken });

export const flushArchive = (adminToken) => call('POST', '/admin/archive/flush', { token: adminToken });
