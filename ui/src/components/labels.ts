/** Names for people of the schema's attributes, e.g. `Job title` for `JobTitle`. */

const KNOWN: Record<string, string> = {
  UserType: "Worker type",
  Organization: "Organisation",
  Identifier: "Key",
  IsExternal: "External",
  DisplayName: "Name",
};

/** `ContractEndDate` → `Contract end date`; a few well-known ones get their HR words. */
export function attributeLabel(name: string): string {
  const known = KNOWN[name];
  if (known) return known;
  const words = name
    .replace(/_/g, " ")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .trim()
    .split(/\s+/);
  return words
    .map((w, i) => (i === 0 ? w.charAt(0).toUpperCase() + w.slice(1) : /^[A-Z]+$/.test(w) ? w : w.toLowerCase()))
    .join(" ");
}

/** `1 person`, `3 people`: a count with the right noun. */
export function plural(n: number, one: string, many: string, format: (n: number) => string): string {
  return `${format(n)} ${n === 1 ? one : many}`;
}

const SINGULAR: Record<string, string> = {
  User: "Person",
  Organization: "Organisation",
  Site: "Site",
  UserType: "Worker type",
};

/** One row's entity type for people, e.g. `Organisation` for `Organization`. */
export function entityTypeSingular(name: string): string {
  return SINGULAR[name] ?? name;
}
