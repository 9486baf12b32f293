// Formatting of the node's numbers for people: hash rates, amounts, times, hashes.

export const ATOMIC_UNITS = 1e12; // atomic units per ZION
const HASHRATE_UNITS = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

function decimals(value) {
  if (value === 0) return 0;
  if (value < 10) return 2;
  if (value < 100) return 1;
  return 0;
}

/** A whole number with the reader's digit grouping; "—" for a missing value. */
export function number(value) {
  return typeof value === "number" && Number.isFinite(value) ? integer.format(value) : "—";
}

/** A count with its noun: count(1, "worker", "workers") -> "1 worker". */
export function count(value, one, many) {
  return `${number(value)} ${value === 1 ? one : many}`;
}

/** Hashes per second with a unit: 1234 -> "1.23 kH/s". */
export function hashrate(value) {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return "—";
  let scaled = value;
  let unit = 0;
  while (scaled >= 1000 && unit < HASHRATE_UNITS.length - 1) {
    scaled /= 1000;
    unit += 1;
  }
  const digits = decimals(scaled);
  const text = new Intl.NumberFormat(undefined, {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(scaled);
  return `${text} ${HASHRATE_UNITS[unit]}`;
}

/** An amount in atomic units as ZION, at most 6 decimals: 1500000000000 -> "1.5 ZION". */
export function amount(atomic) {
  if (typeof atomic !== "number" || !Number.isFinite(atomic)) return "—";
  const text = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 }).format(
    atomic / ATOMIC_UNITS,
  );
  return `${text} ZION`;
}

/** A fee in basis points as a percentage: 150 -> "1.5 %". */
export function basisPoints(bps) {
  if (typeof bps !== "number") return "—";
  return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 }).format(bps / 100)} %`;
}

/** A Unix time relative to now (both in seconds): "12 s ago", "in 4 min". */
export function ago(unixSeconds, nowSeconds = Date.now() / 1000) {
  if (typeof unixSeconds !== "number" || !Number.isFinite(unixSeconds)) return "never";
  const delta = nowSeconds - unixSeconds;
  const span = Math.abs(delta);
  let text;
  if (span < 5) return delta >= 0 ? "just now" : "in a moment";
  if (span < 60) text = `${Math.floor(span)} s`;
  else if (span < 3600) text = `${Math.floor(span / 60)} min`;
  else if (span < 86400) text = `${Math.floor(span / 3600)} h`;
  else text = `${Math.floor(span / 86400)} d`;
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

/** A Unix time as the reader's local date and time. */
export function dateTime(unixSeconds) {
  if (typeof unixSeconds !== "number" || !Number.isFinite(unixSeconds)) return "";
  return new Date(unixSeconds * 1000).toLocaleString();
}

/** A Unix time as ISO 8601 (for <time datetime>). */
export function iso(unixSeconds) {
  if (typeof unixSeconds !== "number" || !Number.isFinite(unixSeconds)) return "";
  return new Date(unixSeconds * 1000).toISOString();
}

/** A long hex id or address, shortened in the middle: "bdafad98…4c1f0e2a". */
export function short(text, head = 8, tail = 8) {
  if (typeof text !== "string") return "—";
  return text.length <= head + tail + 1 ? text : `${text.slice(0, head)}…${text.slice(-tail)}`;
}

/** Seconds as a duration: 600 -> "10 min". */
export function duration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  if (seconds < 60) return `${number(seconds)} s`;
  if (seconds < 3600) return `${number(seconds / 60)} min`;
  if (seconds < 86400) return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(seconds / 3600)} h`;
  return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(seconds / 86400)} d`;
}
