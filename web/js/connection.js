// One WebSocket to /v1/ws (docs/protocol.md), reopened with backoff when it drops. The room
// page decides what to send after each `hello` (join or resume); this module only keeps the
// line up and numbers the frames it sends (`ref`).

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 8000;

/** Close codes after which reconnecting would only fail the same way (section 8). */
const FATAL_CLOSE = new Map([
  [1008, 'The server closed the connection: too many messages or too slow to read.'],
  [1009, 'The server closed the connection: a message was too large.'],
]);

export class Connection {
  /**
   * @param {string} token guest token
   * @param {{onHello: Function, onMessage: Function, onStatus: Function}} handlers
   *   onStatus gets 'connecting' | 'online' | 'reconnecting' | 'closed', and a reason.
   */
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.socket = null;
    this.nextRef = 1;
    this.retryMs = FIRST_RETRY_MS;
    this.retryTimer = null;
    this.stopped = false;
    this.ready = false;
  }

  open() {
    this.stopped = false;
    this.handlers.onStatus('connecting');
    this.connect();
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${scheme}//${location.host}/v1/ws?token=${encodeURIComponent(this.token)}`;
    let socket;
    try {
      socket = new WebSocket(url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    this.ready = false;
    socket.addEventListener('message', (event) => {
      if (socket !== this.socket) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg && msg.type === 'hello') {
        this.ready = true;
        this.retryMs = FIRST_RETRY_MS;
        this.handlers.onStatus('online');
        this.handlers.onHello(msg);
      } else if (msg && typeof msg.type === 'string') {
        this.handlers.onMessage(msg);
      }
    });
    socket.addEventListener('close', (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.ready = false;
      if (this.stopped) return;
      const fatal = FATAL_CLOSE.get(event.code);
      if (fatal) {
        this.stopped = true;
        this.handlers.onStatus('closed', fatal);
        return;
      }
      this.scheduleRetry();
    });
  }

  scheduleRetry() {
    if (this.stopped || this.retryTimer) return;
    this.handlers.onStatus('reconnecting');
    // Jitter keeps a room full of clients from reconnecting in lockstep after a restart.
    const delay = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  /** Sends a message with a fresh `ref`; returns the ref, or null when offline. */
  send(msg) {
    if (!this.socket || !this.ready || this.socket.readyState !== WebSocket.OPEN) return null;
    const ref = this.nextRef++;
    this.socket.send(JSON.stringify({ ...msg, ref }));
    return ref;
  }

  get online() {
    return this.ready && !!this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  /** Closes for good (leaving the page or the room). */
  close() {
    this.stopped = true;
    if (this.retryTimer) window.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, 'bye');
    }
    this.handlers.onStatus('closed');
  }
}
