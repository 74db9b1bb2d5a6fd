// Numbers, money, times and durations in the viewer's locale.
import { locale } from "./i18n.js";

const moneyFormats = new Map();

function moneyFormat(currency) {
  let format = moneyFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat(locale, { style: "currency", currency });
    moneyFormats.set(currency, format);
  }
  return format;
}

/** An integer count of minor units (2500) as money in `currency` ("€25.00"; JPY has none). */
export function money(minor, currency) {
  const format = moneyFormat(currency);
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(minor / 10 ** digits);
}

const numbers = new Intl.NumberFormat(locale);

export function number(n) {
  return numbers.format(n);
}

const dateTimes = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });

/** An ISO 8601 time or Unix ms as a local date and time. */
export function dateTime(value) {
  return dateTimes.format(new Date(value));
}

const pad = (n) => String(n).padStart(2, "0");

/** A countdown: "04:59", or "1:02:03" from an hour on; never negative. */
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

const units = {};
function unit(name, n) {
  units[name] ??= new Intl.NumberFormat(locale, { style: "unit", unit: name, unitDisplay: "long" });
  return units[name].format(n);
}

/** A span of seconds in words: "45 seconds", "5 minutes", "2 hours 10 minutes" (rounded up). */
export function span(seconds) {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return unit("second", s);
  if (s < 3600) return unit("minute", Math.ceil(s / 60));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.ceil((s % 3600) / 60);
  const parts = [];
  if (days) parts.push(unit("day", days));
  if (hours) parts.push(unit("hour", hours));
  if (minutes && !days) parts.push(unit("minute", minutes));
  return parts.join(" ");
}
