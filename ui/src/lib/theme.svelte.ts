/** Light, dark, or the system's: the choice is kept in the web view's local storage. */

/** A theme choice. */
export type Theme = "system" | "light" | "dark";

const KEY = "idbulk.theme";

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
    if (this.current === "system") root.removeAttribute("data-theme");
    else root.setAttribute("data-theme", this.current);
  }
}

/** The app's theme. */
export const theme = new ThemeChoice();
