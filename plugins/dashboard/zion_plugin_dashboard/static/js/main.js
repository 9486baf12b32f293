// The dashboard: state, hash routing, the initial load over JSON-RPC and the live updates
// over the WebSocket stream. Pages are rendered by views.js from the state below.
//
// Routes: #/ (overview), #/blocks, #/payments, #/miner/ADDRESS.

import { replace, setText } from "./dom.js";
import * as fmt from "./format.js";
import {
  INVALID_PARAMS,
  LiveStream,
  METHOD_NOT_FOUND,
  NetworkError,
  RpcError,
  rpc,
  siteInfo,
} from "./api.js";
import { render } from "./views.js";

const BASE_EVENTS = ["new_tip", "reorg", "block_found", "pool_stats"];
const MINER_EVENT = "pool_miner";
const ADDRESS = /^[1-9A-HJ-NP-Za-km-z]{98}$/;
const ADDRESS_PREFIXES = { mainnet: "Zio", testnet: "Ztn", devnet: "ZDe" };
const STORAGE_KEY = "zion-dashboard.address";
const INFO_DEBOUNCE_MS = 500;

const state = {
  route: { name: "overview" },
  site: null, // site.json
  info: null, // get_info
  tip: null, // { height, hash, timestamp }
  pool: undefined, // pool_stats: undefined while loading, null when the node runs no pool
  poolError: null,
  miner: null, // { address, status: loading|ok|invalid|nopool|error, data, error }
  link: { state: "connecting", retry: 0 },
  updatedAt: null,
};

const main = document.getElementById("main");
const banner = document.getElementById("connection");
const searchForm = document.getElementById("search");
const searchInput = document.getElementById("search-address");
const searchError = document.getElementById("search-error");

let renderQueued = false;
let focusOnRender = false;
let infoTimer = null;
let missedEvents = false;

// -- helpers ------------------------------------------------------------------------------

function remember(address) {
  try {
    localStorage.setItem(STORAGE_KEY, address);
  } catch {
    // storage may be off (private windows): nothing to remember then
  }
}

function rememberedAddress() {
  try {
    return localStorage.getItem(STORAGE_KEY) || "";
  } catch {
    return "";
  }
}

/** Why an address cannot be right, or "" when it may be (the node checks the rest). */
function addressProblem(address) {
  if (!address) return "Enter a ZION address.";
  if (address.length !== 98) {
    return `A ZION address has 98 characters; this one has ${address.length}.`;
  }
  if (!ADDRESS.test(address)) return "A ZION address has only base58 characters.";
  const network = state.site?.network;
  const prefix = ADDRESS_PREFIXES[network];
  if (prefix && !address.startsWith(prefix)) {
    return `This node is on ${network}: its addresses start with ${prefix}.`;
  }
  return "";
}

function describe(error) {
  if (error instanceof RpcError) return error.data ? `${error.message}: ${error.data}` : error.message;
  if (error instanceof NetworkError) return error.message;
  return String(error);
}

function parseRoute(hash) {
  const path = hash.replace(/^#/, "");
  if (path === "" || path === "/") return { name: "overview" };
  if (path === "/blocks") return { name: "blocks" };
  if (path === "/payments") return { name: "payments" };
  const match = /^\/miner\/(.*)$/.exec(path);
  if (match) {
    let address = match[1];
    try {
      address = decodeURIComponent(address);
    } catch {
      // keep it as it is: it is reported as not an address
    }
    return { name: "miner", address: address.trim() };
  }
  return { name: "notfound" };
}

// -- rendering ----------------------------------------------------------------------------

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    draw();
  });
}

function draw() {
  const page = render(state, { rememberedAddress, copy });
  const siteTitle = state.site?.title || "ZION pool";
  document.title = `${page.title} · ${siteTitle}`;
  replace(main, page.nodes);
  const busy = state.pool === undefined && !state.poolError;
  main.setAttribute("aria-busy", busy ? "true" : "false");
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === state.route.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  setText(document.querySelector("[data-field=site-title]"), siteTitle);
  setText(document.querySelector("[data-field=site-network]"), state.site?.network || "");
  drawBanner();
  tick();
  if (focusOnRender) {
    focusOnRender = false;
    main.querySelector("h1")?.focus();
  }
}

function drawBanner() {
  const { state: link, retry } = state.link;
  banner.dataset.state = link;
  const label = banner.querySelector(".label");
  const button = banner.querySelector("button");
  if (link === "live") {
    const every = state.pool?.interval_seconds;
    setText(label, every ? `Live: the pool's figures update every ${fmt.duration(every)}` : "Live");
  } else if (link === "reconnecting") {
    setText(label, `Node unreachable: reconnecting in ${retry} s…`);
  } else {
    setText(label, "Connecting to the node…");
  }
  button.hidden = link !== "reconnecting";
}

/** Refresh the relative times ("12 s ago") and the footer, once a second. */
function tick() {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll("[data-since]")) {
    const since = Number(el.dataset.since);
    const text = fmt.ago(since, now);
    if (el.textContent !== text) el.textContent = text;
  }
  setText(
    document.querySelector("[data-field=updated]"),
    state.updatedAt ? `Updated ${fmt.ago(state.updatedAt, now)}` : "",
  );
}

async function copy(text, status) {
  try {
    await navigator.clipboard.writeText(text);
    setText(status, "Copied");
  } catch {
    setText(status, "Copy failed: select the text instead");
  }
  setTimeout(() => setText(status, ""), 3000);
}

// -- data ---------------------------------------------------------------------------------

function touch() {
  state.updatedAt = Date.now() / 1000;
}

async function loadSite() {
  try {
    state.site = await siteInfo();
  } catch {
    // the rest of the page still works without it
  }
}

async function loadInfo() {
  try {
    const [info, last] = await Promise.all([rpc("get_info"), rpc("get_last_block_header")]);
    state.info = info;
    const header = last.block_header;
    if (!state.tip || state.tip.height <= header.height) {
      state.tip = { height: header.height, hash: header.hash, timestamp: header.timestamp };
    }
    touch();
  } catch {
    // the banner tells whether the node is reachable
  }
  scheduleRender();
}

async function loadPool() {
  try {
    state.pool = await rpc("pool_stats");
    state.poolError = null;
    touch();
  } catch (error) {
    if (error instanceof RpcError && error.code === METHOD_NOT_FOUND) {
      state.pool = null;
      state.poolError = null;
    } else if (state.pool === undefined) {
      state.poolError = describe(error);
    }
  }
  scheduleRender();
}

/** Load the miner of the current route over JSON-RPC; true if the node knows the address
 * is valid (then the stream may follow it). */
async function loadMiner(address, { quiet = false } = {}) {
  const problem = addressProblem(address);
  if (problem) {
    state.miner = { address, status: "invalid", error: problem };
    scheduleRender();
    return false;
  }
  if (!quiet || state.miner?.address !== address) {
    state.miner = { address, status: "loading" };
    scheduleRender();
  }
  let entry;
  try {
    const data = await rpc("pool_miner_stats", { address });
    const live = state.miner?.address === address ? state.miner.data : null;
    entry = { address, status: "ok", data: live ? withLiveFields(data, live) : data };
    remember(address);
    touch();
  } catch (error) {
    if (error instanceof RpcError && error.code === INVALID_PARAMS) {
      entry = { address, status: "invalid", error: describe(error) };
    } else if (error instanceof RpcError && error.code === METHOD_NOT_FOUND) {
      entry = { address, status: "nopool" };
    } else {
      entry = { address, status: "error", error: describe(error) };
    }
  }
  if (state.route.name === "miner" && state.route.address === address) {
    if (!(quiet && entry.status === "error" && state.miner?.status === "ok")) state.miner = entry;
    scheduleRender();
  }
  return entry.status === "ok";
}

/** The RPC result has no last-share times nor online flags: keep the live ones. */
function withLiveFields(data, live) {
  const byName = new Map((live.workers || []).map((worker) => [worker.name, worker]));
  return {
    ...data,
    last_share_at: live.last_share_at,
    workers: (data.workers || []).map((worker) => ({ ...byName.get(worker.name), ...worker })),
  };
}

function refreshInfoSoon() {
  clearTimeout(infoTimer);
  infoTimer = setTimeout(loadInfo, INFO_DEBOUNCE_MS);
}

// -- live stream --------------------------------------------------------------------------

const stream = new LiveStream({
  onState(link, retry) {
    if (link === "reconnecting") missedEvents = true;
    state.link = { state: link, retry };
    drawBanner();
  },
  onMessage(event, data) {
    switch (event) {
      case "hello":
        if (typeof data.height === "number") {
          state.tip = { height: data.height, hash: data.hash, timestamp: state.tip?.timestamp };
        }
        if (missedEvents) refresh(); // events were missed while disconnected
        missedEvents = false;
        break;
      case "new_tip":
        state.tip = { height: data.height, hash: data.hash, timestamp: data.timestamp };
        refreshInfoSoon();
        break;
      case "reorg":
        refreshInfoSoon();
        break;
      case "pool_stats":
        onPoolStats(data);
        break;
      case MINER_EVENT:
        onPoolMiner(data);
        break;
      default:
        return;
    }
    touch();
    scheduleRender();
  },
});

function onPoolStats(data) {
  const before = state.pool;
  state.pool = data;
  state.poolError = null;
  const miner = state.miner;
  const paymentsChanged =
    before &&
    (before.payments?.count !== data.payments?.count ||
      before.payments?.in_flight !== data.payments?.in_flight);
  if (paymentsChanged && miner?.status === "ok" && state.route.name === "miner") {
    loadMiner(miner.address, { quiet: true }); // payments are not in the live messages
  }
}

function onPoolMiner(data) {
  const miner = state.miner;
  if (!miner || miner.address !== data.address) return;
  const payments = miner.data?.payments || [];
  state.miner = { address: miner.address, status: "ok", data: { ...data, payments } };
}

function subscribe() {
  const route = state.route;
  const followed = route.name === "miner" && state.miner?.status === "ok";
  const miner = followed && state.miner.address === route.address ? route.address : null;
  stream.subscribe(miner ? [...BASE_EVENTS, MINER_EVENT] : BASE_EVENTS, miner ? [miner] : []);
}

/** Everything again over JSON-RPC (at start and after a reconnection). */
async function refresh() {
  const loads = [loadInfo(), loadPool()];
  if (state.route.name === "miner") loads.push(loadMiner(state.route.address, { quiet: true }));
  await Promise.all(loads);
}

// -- routing ------------------------------------------------------------------------------

async function onRoute({ initial = false } = {}) {
  if (location.hash && !location.hash.startsWith("#/")) return; // an in-page anchor
  const route = parseRoute(location.hash);
  state.route = route;
  focusOnRender = !initial;
  if (route.name === "miner") {
    searchInput.value = route.address;
    if (state.miner?.address === route.address && state.miner.status === "ok") {
      loadMiner(route.address, { quiet: true }); // not followed while away: refresh it
    } else {
      await loadMiner(route.address);
    }
  }
  scheduleRender();
  subscribe();
}

searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const address = searchInput.value.trim();
  const problem = address ? "" : "Enter a ZION address.";
  setText(searchError, problem);
  searchInput.setAttribute("aria-invalid", problem ? "true" : "false");
  if (problem) {
    searchInput.focus();
    return;
  }
  const target = `#/miner/${encodeURIComponent(address)}`;
  if (location.hash === target) onRoute(); // the same page: read it again
  else location.hash = target;
});

searchInput.addEventListener("input", () => {
  setText(searchError, "");
  searchInput.removeAttribute("aria-invalid");
});

document.querySelector(".skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

banner.querySelector("button").addEventListener("click", () => stream.retryNow());

window.addEventListener("hashchange", () => onRoute());

async function start() {
  if (!location.hash.startsWith("#/")) searchInput.value = rememberedAddress();
  await loadSite();
  await Promise.all([loadInfo(), loadPool(), onRoute({ initial: true })]);
  setInterval(tick, 1000);
}

start();
