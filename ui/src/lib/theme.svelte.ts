/** Light, dark, or the system's: the choice is kept in the web view's local storage. */

/** A theme choice. */
export type Theme = "system" | "light" | "dark";

const KEY = "idbulk.theme";
const DARK = "(prefers-color-scheme: dark)";

/** The system's theme, as the web view reports it (light when it cannot tell). */
function systemTheme(): "light" | "dark" {
  return globalThis.matchMedia?.(DARK).matches ? "dark" : "light";
}

function stored(): Theme {
  try {
    const value = globalThis.localStorage?.getItem(KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

class ThemeChoice {
  current: Theme = $state(stored());

  constructor() {
    this.apply();
    this.watchSystem();
  }

  /** Chooses a theme and remembers it. */
  set(theme: Theme) {
    this.current = theme;
    try {
      globalThis.localStorage?.setItem(KEY, theme);
    } catch {
      // Storage may be unavailable; the choice then lasts until the window closes.
    }
    this.apply();
  }

  private apply() {
    const root = globalThis.document?.documentElement;
    if (!root) return;
    root.setAttribute("data-theme", this.current === "system" ? systemTheme() : this.current);
  }

  /** Follows the system's light or dark switch while the choice is "system". */
  private watchSystem() {
    const query = globalThis.matchMedia?.(DARK);
    query?.addEventListener?.("change", () => {
      if (this.current === "system") this.apply();
    });
  }
}

/** The app's theme. */
export const theme = new ThemeChoice();
