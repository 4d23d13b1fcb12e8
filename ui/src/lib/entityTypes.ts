/**
 * Words for people. The engine is generic over the schema, so an entity type the UI does not
 * know (added by an administrator) is shown under its own name.
 */
const LABELS: Record<string, { plural: string; singular: string }> = {
  User: { plural: "People", singular: "person" },
  Organization: { plural: "Organisations", singular: "organisation" },
  Site: { plural: "Sites", singular: "site" },
  UserType: { plural: "Worker types", singular: "worker type" },
};

/** The plural label of an entity type, e.g. `People` for `User`. */
export function entityTypeLabel(name: string): string {
  return LABELS[name]?.plural ?? name;
}

/** Formats a count in the user's locale, without trusting `navigator.language` (see below). */
export function formatCount(n: number): string {
  // WebKitGTK reports the locale "C" under LANG=C, which Intl rejects: no argument means the
  // runtime's default locale, which is always valid.
  try {
    return n.toLocaleString();
  } catch {
    return String(n);
  }
}
