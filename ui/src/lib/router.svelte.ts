/**
 * Which screen is shown, kept in the URL's hash (`#directory/person/00012`) so that the
 * browser's back and forward keys (Alt+Left/Right in the webview) move between screens.
 */

/** The screens, in the order of the navigation rail. */
export const SCREENS = [
  { id: "home", label: "Home", key: "1" },
  { id: "connection", label: "Connection", key: "2" },
  { id: "synchronize", label: "Synchronize", key: "3" },
  { id: "directory", label: "Directory", key: "4" },
  { id: "reports", label: "Verify & reports", key: "5" },
  { id: "history", label: "History", key: "6" },
  { id: "settings", label: "Settings", key: "7" },
] as const;

/** A screen's id. */
export type ScreenId = (typeof SCREENS)[number]["id"];

/** Where the app is: a screen and what follows it in the hash (e.g. `["person", "00012"]`). */
export interface Location {
  screen: ScreenId;
  rest: string[];
}

/** Parses a hash such as `#directory/person/00012`; anything unknown is Home. */
export function parseHash(hash: string): Location {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const screen = SCREENS.find((s) => s.id === parts[0])?.id ?? "home";
  return { screen, rest: screen === parts[0] ? parts.slice(1).filter((p) => p !== "") : [] };
}

/** The hash of a location. */
export function toHash(screen: ScreenId, ...rest: string[]): string {
  return "#" + [screen, ...rest].map(encodeURIComponent).join("/");
}

class Router {
  location: Location = $state(parseHash(globalThis.location?.hash ?? ""));

  constructor() {
    globalThis.addEventListener?.("hashchange", () => {
      this.location = parseHash(globalThis.location.hash);
    });
  }

  /** Shows a screen (and records it in the history for Back). */
  go(screen: ScreenId, ...rest: string[]) {
    const hash = toHash(screen, ...rest);
    if (globalThis.location.hash !== hash) globalThis.location.hash = hash;
    this.location = { screen, rest };
  }
}

/** The app's router. */
export const router = new Router();
