// The player's own strings (server messages are shown as the server wrote them), in English
// and German, chosen from navigator.languages; English when neither is asked for.
// A string is text or {one, other} for counts; "{name}" is replaced by vars.name.
import de from "./strings-de.js";
import en from "./strings-en.js";

const STRINGS = { en, de };

function choose() {
  const tags = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
  for (const tag of tags) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in STRINGS) return { lang: base, locale: tag };
  }
  return { lang: "en", locale: "en" };
}

const chosen = choose();
/** The strings' language ("en" or "de"). */
export const lang = chosen.lang;
/** The BCP 47 tag used for numbers, money and dates (e.g. "de-AT"). */
export const locale = chosen.locale;

const plurals = new Intl.PluralRules(locale);

/** The string `key`, with {name} placeholders filled from vars; vars.n picks the plural form. */
export function t(key, vars = {}) {
  let text = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  if (typeof text === "object") text = text[plurals.select(Number(vars.n ?? 0))] ?? text.other;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in vars ? String(vars[name]) : match));
}

/** Translate the static page: data-i18n sets text, data-i18n-attr="attr:key,attr:key" attributes. */
export function translatePage(root = document) {
  document.documentElement.lang = lang;
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of node.dataset.i18nAttr.split(",")) {
      const [attr, key] = pair.split(":");
      node.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}
