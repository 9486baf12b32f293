// The node API, on the origin that serves this page: JSON-RPC over HTTP (POST /json_rpc)
// and the live event stream over WebSocket (/ws), both one level above /dashboard/.

const ROOT = new URL("..", document.baseURI);
export const RPC_URL = new URL("json_rpc", ROOT).href;

export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
const TIMEOUT_MS = 10000;
const RETRY_SECONDS = [1, 2, 4, 8, 15];
const CONNECT_TIMEOUT_MS = 10000;

/** The node answered with a JSON-RPC error object. */
export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.data = data;
  }
}

/** The node could not be reached, or answered with something that is not JSON-RPC. */
export class NetworkError extends Error {
  constructor(message) {
    super(message);
    this.name = "NetworkError";
  }
}

let nextId = 1;

/** Call a JSON-RPC method; its result, or RpcError / NetworkError. */
export async function rpc(method, params = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    let response;
    try {
      response = await fetch(RPC_URL, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
        cache: "no-store",
        signal: controller.signal,
      });
    } catch {
      throw new NetworkError(
        controller.signal.aborted
          ? `the node did not answer within ${TIMEOUT_MS / 1000} s`
          : "the node cannot be reached",
      );
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw new NetworkError(`the node answered HTTP ${response.status}, not JSON-RPC`);
    }
    if (body && typeof body.error === "object" && body.error !== null) {
      throw new RpcError(body.error.code, String(body.error.message), body.error.data);
    }
    if (!response.ok || !body || !("result" in body)) {
      throw new NetworkError(`the node answered HTTP ${response.status}`);
    }
    return body.result;
  } finally {
    clearTimeout(timer);
  }
}

/** ``site.json``: the title, the network and the pool's ports. */
export async function siteInfo() {
  let response;
  try {
    response = await fetch(new URL("site.json", document.baseURI), { cache: "no-store" });
  } catch {
    throw new NetworkError("the node cannot be reached");
  }
  if (!response.ok) throw new NetworkError(`site.json: HTTP ${response.status}`);
  return response.json();
}

function streamUrl(events, miners) {
  const url = new URL("ws", ROOT);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("events", events.join(","));
  if (miners.length) url.searchParams.set("miner", miners.join(","));
  return url.href;
}

/**
 * The live event stream: one WebSocket, reopened after a growing pause (1 s up to 15 s)
 * whenever it closes, until close() is called.
 *
 * onMessage(event, data) gets every message ("hello" first on each connection);
 * onState(state, retrySeconds) is told "connecting", "live" or "reconnecting".
 */
export class LiveStream {
  constructor({ onMessage, onState }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.socket = null;
    this.events = [];
    this.miners = [];
    this.attempt = 0;
    this.timer = null;
    this.connectTimer = null;
    this.generation = 0;
  }

  /** Follow these events (and miners); reconnects only when they differ. */
  subscribe(events, miners = []) {
    const same =
      this.socket !== null &&
      events.join(",") === this.events.join(",") &&
      miners.join(",") === this.miners.join(",");
    this.events = [...events];
    this.miners = [...miners];
    if (!same) this.connect();
  }

  /** Reconnect now instead of at the end of the pause. */
  retryNow() {
    if (this.timer !== null) this.connect();
  }

  connect() {
    this.stop();
    const generation = ++this.generation;
    this.onState("connecting", 0);
    let socket;
    try {
      socket = new WebSocket(streamUrl(this.events, this.miners));
    } catch {
      this.scheduleRetry(generation);
      return;
    }
    this.socket = socket;
    this.connectTimer = setTimeout(() => {
      if (generation === this.generation && socket.readyState === WebSocket.CONNECTING) {
        socket.close();
      }
    }, CONNECT_TIMEOUT_MS);
    socket.addEventListener("message", (message) => {
      if (generation !== this.generation) return;
      let parsed;
      try {
        parsed = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!parsed || typeof parsed.event !== "string") return;
      if (parsed.event === "hello") {
        clearTimeout(this.connectTimer);
        this.attempt = 0;
        this.onState("live", 0);
      }
      this.onMessage(parsed.event, parsed.data || {});
    });
    socket.addEventListener("close", () => {
      if (generation === this.generation) this.scheduleRetry(generation);
    });
  }

  scheduleRetry(generation) {
    clearTimeout(this.connectTimer);
    this.socket = null;
    const delay = RETRY_SECONDS[Math.min(this.attempt, RETRY_SECONDS.length - 1)];
    this.attempt += 1;
    this.onState("reconnecting", delay);
    this.timer = setTimeout(() => {
      if (generation === this.generation) this.connect();
    }, delay * 1000);
  }

  /** Close the socket and cancel any pending reconnection. */
  stop() {
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    this.timer = null;
    this.generation += 1;
    if (this.socket !== null) {
      const socket = this.socket;
      this.socket = null;
      if (socket.readyState === WebSocket.OPEN) {
        socket.close(1000, "resubscribing");
      } else if (socket.readyState === WebSocket.CONNECTING) {
        // closing a socket still connecting is reported as an error: close it once open
        socket.addEventListener("open", () => socket.close(1000, "resubscribing"));
      }
    }
  }
}
