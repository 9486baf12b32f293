// The pages: pure functions from the dashboard's state to DOM nodes (see main.js for the
// state). Every value from the node goes in as text (dom.js), never as markup.

import { h } from "./dom.js";
import * as fmt from "./format.js";

const BLOCK_STATUS = {
  pending: ["Maturing", "The block is on the chain; its reward unlocks after the coinbase maturity."],
  credited: ["Credited", "The reward was credited to the miners."],
  orphaned: ["Orphaned", "The block left the main chain; its credits were reversed."],
};
const PAYMENT_STATUS = {
  intent: ["Sending", "The payment is being sent."],
  sent: ["Sent", "The transaction was sent to the network."],
  settled: ["Confirmed", "The transaction is confirmed."],
  failed: ["Failed", "The wallet refused the payment; the balance stays credited."],
};

// -- small pieces -------------------------------------------------------------------------

function timeAgo(unix) {
  if (typeof unix !== "number") return h("span", { class: "muted" }, "—");
  return h(
    "time",
    { datetime: fmt.iso(unix), title: fmt.dateTime(unix), dataset: { since: unix } },
    fmt.ago(unix),
  );
}

/** A statistic: label, formatted value; dataset field/value for scripts and tests. */
function stat(label, value, { field, raw, hint, wide } = {}) {
  return h(
    "div",
    { class: wide ? "stat stat-wide" : "stat" },
    h("dt", null, label),
    h(
      "dd",
      { dataset: { field, value: raw } },
      value instanceof Node ? value : h("span", { class: "value" }, value),
      hint ? h("span", { class: "hint" }, hint) : null,
    ),
  );
}

function stats(label, ...items) {
  return h("dl", { class: "stats", "aria-label": label }, items);
}

function section(title, id, ...children) {
  return h(
    "section",
    { class: "panel", "aria-labelledby": id },
    h("h2", { id }, title),
    children,
  );
}

function notice(kind, title, ...text) {
  return h(
    "div",
    { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : null },
    h("p", { class: "notice-title" }, title),
    text.length ? h("p", null, text) : null,
  );
}

function badge(kind, label, title) {
  return h("span", { class: `badge badge-${kind}`, title }, label);
}

function table(caption, headers, rows, empty, field) {
  if (!rows.length) return h("p", { class: "empty", dataset: { field } }, empty);
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      { dataset: { field } },
      h("caption", { class: "visually-hidden" }, caption),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          headers.map(([text, numeric]) =>
            h("th", { scope: "col", class: numeric ? "num" : null }, text),
          ),
        ),
      ),
      h(
        "tbody",
        null,
        rows.map((cells) =>
          h(
            "tr",
            null,
            cells.map((cell, index) =>
              h("td", { class: headers[index][1] ? "num" : null }, cell),
            ),
          ),
        ),
      ),
    ),
  );
}

function code(text, title) {
  return h("code", { class: "hash", title: title || text }, text);
}

function loading(what) {
  return h("p", { class: "loading", "aria-busy": "true" }, `Loading ${what}…`);
}

function heading(text, sub) {
  return h(
    "div",
    { class: "page-head" },
    h("h1", { tabindex: "-1" }, text),
    sub ? h("p", { class: "subtitle" }, sub) : null,
  );
}

// -- shared sections ----------------------------------------------------------------------

function poolProblem(state, { network = false } = {}) {
  if (state.pool === null) {
    return notice(
      "info",
      "No pool on this node",
      "This node runs no mining pool: its operator has not set [stratum] pool_address, " +
        "or the stratum plugin is not loaded.",
      network ? " The network figures below still update live." : "",
    );
  }
  if (state.poolError) {
    return notice("error", "The pool's statistics cannot be read", state.poolError);
  }
  return null;
}

function networkStats(state) {
  const tip = state.tip;
  const difficulty = state.pool?.network_difficulty ?? state.info?.difficulty;
  return stats(
    "Network",
    stat("Network height", fmt.number(tip?.height), { field: "network-height", raw: tip?.height }),
    stat("Network difficulty", fmt.number(difficulty), {
      field: "network-difficulty",
      raw: difficulty,
    }),
    stat("Last block", tip?.timestamp ? timeAgo(tip.timestamp) : "—", {
      field: "tip-time",
      hint: tip?.height === 0 ? "the genesis block" : null,
    }),
    stat("Network", state.site?.network ?? state.info?.nettype ?? "—", { field: "network" }),
  );
}

function blocksTable(blocks, limit) {
  const rows = (limit ? blocks.slice(0, limit) : blocks).map((block) => {
    const [label, title] = BLOCK_STATUS[block.status] || [String(block.status), ""];
    return [
      fmt.number(block.height),
      code(fmt.short(block.block_id), block.block_id),
      badge(block.status, label, title),
      fmt.amount(block.reward),
      fmt.number(block.network_difficulty),
      timeAgo(block.found_at),
    ];
  });
  return table(
    "Blocks found by the pool",
    [["Height", true], ["Block"], ["Status"], ["Reward", true], ["Difficulty", true], ["Found"]],
    rows,
    "The pool has not found a block yet.",
    "blocks-table",
  );
}

function paymentRows(payments) {
  return payments.map((payment) => {
    const [label, title] = PAYMENT_STATUS[payment.status] || [String(payment.status), ""];
    return [
      timeAgo(payment.created_at),
      fmt.amount(payment.amount),
      badge(payment.status, label, title),
      payment.tx_hash ? code(fmt.short(payment.tx_hash), payment.tx_hash) : "—",
    ];
  });
}

const PAYMENT_HEADERS = [["Date"], ["Amount", true], ["Status"], ["Transaction"]];

function connectBox(state, actions) {
  const site = state.site;
  const ports = site?.pool_ports;
  if (!site || ports === null || state.pool === null) return null;
  const host = site.stratum_host || location.hostname || "127.0.0.1";
  const address = actions.rememberedAddress() || "YOUR_ADDRESS";
  const first = ports[0];
  const children = [];
  if (!ports.length) {
    children.push(h("p", null, "The pool is starting; its ports appear here once it listens."));
  } else {
    children.push(
      h(
        "ul",
        { class: "ports", dataset: { field: "stratum-ports" } },
        ports.map((port) =>
          h(
            "li",
            null,
            code(`${host}:${port.port}`),
            port.tls ? badge("tls", "TLS", "Encrypted: use --tls") : null,
          ),
        ),
      ),
    );
    let command = `xmrig -o ${host}:${first.port} -u ${address}.rig1 -p x -a rx/0`;
    if (first.tls) {
      command += " --tls";
      if (site.tls_fingerprint) command += ` --tls-fingerprint ${site.tls_fingerprint}`;
    }
    const status = h("span", { class: "copy-status", role: "status" });
    children.push(
      h("p", null, "Point XMRig (or any Stratum miner for rx/0) at the pool with your address:"),
      h(
        "div",
        { class: "command" },
        h("pre", null, h("code", { dataset: { field: "xmrig-command" } }, command)),
        navigator.clipboard
          ? h(
              "button",
              {
                type: "button",
                class: "secondary",
                onclick: () => actions.copy(command, status),
              },
              "Copy",
            )
          : null,
        status,
      ),
      h(
        "p",
        { class: "hint" },
        "The name after the dot tells your rigs apart (.rig1, .rig2); ",
        "ADDRESS+50000 fixes the share difficulty.",
      ),
    );
  }
  return section("How to connect", "connect-title", children);
}

// -- pages --------------------------------------------------------------------------------

function overview(state, actions) {
  const pool = state.pool;
  const parts = [
    heading("Pool overview", "Live from this node"),
    poolProblem(state, { network: true }),
  ];
  if (pool === undefined && !state.poolError) {
    parts.push(loading("the pool's statistics"));
  } else if (pool) {
    const connected = pool.connected;
    const payouts = pool.payouts || {};
    let nextPayout = "Off";
    if (payouts.enabled) {
      nextPayout = typeof payouts.next_at === "number" ? timeAgo(payouts.next_at) : "Soon";
    }
    parts.push(
      stats(
        "Pool",
        stat("Pool hashrate", fmt.hashrate(pool.hashrate), {
          field: "pool-hashrate",
          raw: pool.hashrate,
        }),
        stat("Miners online", fmt.number(connected ? connected.miners : pool.miners), {
          field: "pool-miners",
          raw: connected ? connected.miners : pool.miners,
          hint: fmt.count(connected ? connected.workers : pool.workers, "worker", "workers"),
        }),
        stat("Shares accepted", fmt.number(pool.shares?.accepted), {
          field: "pool-shares-accepted",
          raw: pool.shares?.accepted,
          hint: `${fmt.number(pool.shares?.stale)} stale · ${fmt.number(pool.shares?.rejected)} rejected`,
        }),
        stat("Blocks found", fmt.number(pool.blocks?.found), {
          field: "pool-blocks-found",
          raw: pool.blocks?.found,
          hint: `${fmt.number(pool.blocks?.pending)} maturing · ${fmt.number(pool.blocks?.credited)} credited · ${fmt.number(pool.blocks?.orphaned)} orphaned`,
        }),
        stat("Fee", fmt.basisPoints(pool.fee_bps), {
          field: "pool-fee",
          raw: pool.fee_bps,
          hint: `${String(pool.policy || "").toUpperCase()} payouts`,
        }),
        stat("Next payout", nextPayout, {
          field: "pool-next-payout",
          hint: payouts.threshold ? `at ${fmt.amount(payouts.threshold)} or more` : null,
        }),
      ),
    );
  }
  parts.push(section("Network", "network-title", networkStats(state)));
  parts.push(connectBox(state, actions));
  if (pool) {
    parts.push(
      section(
        "Recent blocks",
        "recent-blocks-title",
        blocksTable(pool.recent_blocks || [], 5),
        pool.recent_blocks?.length > 5 ? h("p", null, h("a", { href: "#/blocks" }, "All blocks")) : null,
      ),
      section(
        "Recent payments",
        "recent-payments-title",
        table(
          "The pool's last payment",
          PAYMENT_HEADERS,
          paymentRows(pool.payments?.last ? [pool.payments.last] : []),
          "The pool has made no payment yet.",
          "recent-payments",
        ),
        h("p", null, h("a", { href: "#/payments" }, "Payments")),
      ),
    );
  }
  return { title: "Overview", nodes: parts };
}

function blocks(state) {
  const pool = state.pool;
  const parts = [heading("Blocks", "Blocks the pool found, newest first"), poolProblem(state)];
  if (pool === undefined && !state.poolError) parts.push(loading("the pool's blocks"));
  if (pool) {
    const counts = pool.blocks || {};
    parts.push(
      stats(
        "Blocks",
        stat("Found", fmt.number(counts.found), { field: "blocks-found", raw: counts.found }),
        stat("Maturing", fmt.number(counts.pending), { field: "blocks-pending", raw: counts.pending }),
        stat("Credited", fmt.number(counts.credited), {
          field: "blocks-credited",
          raw: counts.credited,
        }),
        stat("Orphaned", fmt.number(counts.orphaned), {
          field: "blocks-orphaned",
          raw: counts.orphaned,
        }),
      ),
      section("Recent blocks", "blocks-title", blocksTable(pool.recent_blocks || [])),
    );
  }
  return { title: "Blocks", nodes: parts };
}

function payments(state) {
  const pool = state.pool;
  const parts = [heading("Payments", "What the pool paid its miners"), poolProblem(state)];
  if (pool === undefined && !state.poolError) parts.push(loading("the pool's payments"));
  if (pool) {
    const paid = pool.payments || {};
    const payouts = pool.payouts || {};
    parts.push(
      stats(
        "Payments",
        stat("Payments", fmt.number(paid.count), { field: "payments-count", raw: paid.count }),
        stat("Total paid", fmt.amount(paid.total_paid), {
          field: "payments-total",
          raw: paid.total_paid,
        }),
        stat("Being sent", fmt.amount(paid.in_flight), {
          field: "payments-in-flight",
          raw: paid.in_flight,
        }),
        stat("Payouts", payouts.enabled ? "On" : "Off", {
          field: "payouts-enabled",
          hint: payouts.enabled
            ? `every ${fmt.duration(payouts.interval_seconds)}, from ${fmt.amount(payouts.threshold)}`
            : "Balances accumulate until the operator turns payouts on.",
        }),
        stat(
          "Next payout",
          payouts.enabled && typeof payouts.next_at === "number" ? timeAgo(payouts.next_at) : "—",
          { field: "payments-next" },
        ),
      ),
      section(
        "Last payment",
        "last-payment-title",
        table(
          "The pool's last payment",
          PAYMENT_HEADERS,
          paymentRows(paid.last ? [paid.last] : []),
          "The pool has made no payment yet.",
          "last-payment",
        ),
        h(
          "p",
          { class: "hint" },
          "Every payment to an address is listed on its miner page: look your address up above.",
        ),
      ),
    );
  }
  return { title: "Payments", nodes: parts };
}

function minerStats(data) {
  const balance = data.balance || {};
  const workers = data.workers || [];
  const online = workers.filter((worker) => worker.online).length;
  return [
    stats(
      "Miner",
      stat("Hashrate", fmt.hashrate(data.hashrate), {
        field: "miner-hashrate",
        raw: data.hashrate,
        hint: "accepted shares, last 10 minutes",
      }),
      stat("Shares", fmt.number(data.shares), {
        field: "miner-shares",
        raw: data.shares,
        hint: "accepted since the pool started",
      }),
      stat("Last share", timeAgo(data.last_share_at), { field: "miner-last-share" }),
      stat("Workers", fmt.number(workers.length), {
        field: "miner-workers",
        raw: workers.length,
        hint: workers.some((worker) => "online" in worker) ? `${online} online` : null,
      }),
      stat("Blocks found", fmt.number(data.blocks_found), {
        field: "miner-blocks",
        raw: data.blocks_found,
      }),
    ),
    section(
      "Balance",
      "balance-title",
      stats(
        "Balance",
        stat("Immature", fmt.amount(balance.immature), {
          field: "balance-immature",
          raw: balance.immature,
          hint: "from blocks still maturing",
        }),
        stat("Credited", fmt.amount(balance.credited), {
          field: "balance-credited",
          raw: balance.credited,
          hint: "waiting for the next payout",
        }),
        stat("In flight", fmt.amount(balance.in_flight), {
          field: "balance-in-flight",
          raw: balance.in_flight,
          hint: "being paid now",
        }),
        stat("Paid", fmt.amount(balance.paid), { field: "balance-paid", raw: balance.paid }),
      ),
    ),
    section(
      "Workers",
      "workers-title",
      table(
        "Workers of this address",
        [
          ["Worker"],
          ["Status"],
          ["Hashrate", true],
          ["Shares", true],
          ["Difficulty", true],
          ["Last share"],
        ],
        workers.map((worker) => [
          worker.name || "(default)",
          "online" in worker
            ? badge(worker.online ? "online" : "offline", worker.online ? "Online" : "Offline")
            : "—",
          fmt.hashrate(worker.hashrate),
          fmt.number(worker.shares),
          fmt.number(worker.difficulty),
          timeAgo(worker.last_share_at),
        ]),
        "No worker of this address has submitted a share since the pool started.",
        "workers-table",
      ),
    ),
    section(
      "Payments",
      "miner-payments-title",
      table(
        "Payments to this address",
        PAYMENT_HEADERS,
        paymentRows(data.payments || []),
        "No payment to this address yet.",
        "miner-payments",
      ),
    ),
  ];
}

function isUnknown(data) {
  const balance = data.balance || {};
  return (
    !data.workers?.length &&
    !data.shares &&
    !data.payments?.length &&
    !balance.immature &&
    !balance.credited &&
    !balance.in_flight &&
    !balance.paid
  );
}

function miner(state) {
  const entry = state.miner;
  const address = state.route.address;
  const parts = [
    heading("Miner"),
    h("p", { class: "address" }, code(address, "This miner's address")),
  ];
  if (!entry || entry.address !== address || entry.status === "loading") {
    parts.push(loading("this miner's statistics"));
  } else if (entry.status === "invalid") {
    parts.push(
      notice("error", "Not an address of this network", entry.error, " Check it and search again."),
    );
  } else if (entry.status === "nopool") {
    parts.push(poolProblem({ pool: null }));
  } else if (entry.status === "error") {
    parts.push(notice("error", "This miner's statistics cannot be read", entry.error));
  } else {
    if (isUnknown(entry.data)) {
      parts.push(
        h(
          "div",
          { dataset: { field: "miner-unknown" } },
          notice(
            "info",
            "No shares from this address yet",
            "The pool has seen no share, balance or payment for this address since it " +
              "started. Once a miner with this address submits shares, this page updates " +
              "by itself.",
          ),
        ),
      );
    }
    parts.push(minerStats(entry.data));
  }
  return { title: `Miner ${fmt.short(address, 6, 6)}`, nodes: parts };
}

function notFound() {
  return {
    title: "Not found",
    nodes: [
      heading("Page not found"),
      notice("info", "There is no such page.", h("a", { href: "#/" }, "Back to the overview")),
    ],
  };
}

/** The current page's title and nodes. */
export function render(state, actions) {
  switch (state.route.name) {
    case "overview":
      return overview(state, actions);
    case "blocks":
      return blocks(state);
    case "payments":
      return payments(state);
    case "miner":
      return miner(state);
    default:
      return notFound();
  }
}
