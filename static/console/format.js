// Money, numbers and times, through Intl in the browser's language.

const lang = navigator.language || "en";
const numbers = new Intl.NumberFormat(lang);
const times = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dates = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });

export function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency })
      .resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

export function money(minor, currency) {
  if (minor === null || minor === undefined) return "–";
  const digits = currencyDigits(currency);
  try {
    return new Intl.NumberFormat(lang, { style: "currency", currency }).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

// "12.5" in EUR -> 1250. Parsed as text, so no floating point rounding; null if not a price.
export function toMinor(text, currency) {
  const digits = currencyDigits(currency);
  const match = /^(\d+)(?:[.,](\d*))?$/.exec(String(text).trim());
  if (!match) return null;
  const fraction = match[2] || "";
  if (fraction.length > digits) return null;
  return Number(match[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || 0);
}

export function minorStep(currency) {
  const digits = currencyDigits(currency);
  return digits === 0 ? "1" : `0.${"0".repeat(digits - 1)}1`;
}

export function number(n) {
  return n === null || n === undefined ? "–" : numbers.format(n);
}

export function clock(ms) {
  return times.format(new Date(ms));
}

export function dateTime(value) {
  return value ? dates.format(new Date(value)) : "";
}

// 95000 -> "1:35"; hours when needed.
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

const pad = (n) => String(n).padStart(2, "0");

// A Date -> the value of a datetime-local input (local time, minutes).
export function toLocalInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// A datetime-local value -> ISO 8601 with the browser's UTC offset, e.g. 2026-12-01T19:00:00+01:00.
export function fromLocalInput(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return null;
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${toLocalInput(date)}:${pad(date.getSeconds())}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
