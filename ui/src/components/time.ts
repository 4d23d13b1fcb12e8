/**
 * Dates and times for people, in the user's own locale and time zone.
 *
 * Never passes `navigator.language` to Intl: under `LANG=C` WebKitGTK reports "C", which Intl
 * rejects. `undefined` means the runtime's default locale, which is always valid.
 */

/** `25 Nov 2026, 14:05` (local time) for an RFC 3339 instant; the text itself if unparsable. */
export function formatTime(rfc3339: string): string {
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return rfc3339;
  try {
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch {
    try {
      return date.toLocaleString();
    } catch {
      return date.toISOString().replace("T", " ").slice(0, 16);
    }
  }
}

/** `25 Nov 2026` for a calendar day (`YYYY-MM-DD`, no time zone); the text itself otherwise. */
export function formatDay(day: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!match) return day;
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  try {
    return date.toLocaleDateString(undefined, { dateStyle: "medium" });
  } catch {
    return day;
  }
}

/** `1–100 of 360`, or `0 of 0`, for a page of a longer list. */
export function rangeText(offset: number, shown: number, total: number, format: (n: number) => string): string {
  if (total === 0 || shown === 0) return `0 of ${format(total)}`;
  return `${format(offset + 1)}–${format(offset + shown)} of ${format(total)}`;
}
