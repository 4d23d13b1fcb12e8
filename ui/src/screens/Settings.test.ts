import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../lib/ipc", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../lib/ipc")>();
  return {
    ...actual,
    thresholdSettings: vi.fn(),
    setThreshold: vi.fn(),
    repositoryInfo: vi.fn(),
    backupSettings: vi.fn(async () => ({
      keep: 10,
      folder: "/home/hr/.local/share/idbulk/repository.db.backups",
      backups: [
        {
          path: "/home/hr/.local/share/idbulk/repository.db.backups/a.db",
          name: "repository-20261125T100000Z.db",
          taken_at: "2026-11-25T10:00:00Z",
          bytes: 2_400_000,
        },
      ],
    })),
    setBackupKeep: vi.fn(async () => {}),
  };
});

import type { ThresholdSettings } from "../bindings/ThresholdSettings";
import {
  IpcError,
  repositoryInfo,
  setBackupKeep,
  setThreshold,
  thresholdSettings,
} from "../lib/ipc";
import { theme } from "../lib/theme.svelte";
import Settings from "./Settings.svelte";

const settingsMock = vi.mocked(thresholdSettings);
const setMock = vi.mocked(setThreshold);
const infoMock = vi.mocked(repositoryInfo);

const SETTINGS: ThresholdSettings = {
  thresholds: {
    connection: {
      created: { absolute: 100, percent: 5 },
      updated: { absolute: 100, percent: 5 },
      deleted: { absolute: 50, percent: 2.5 },
    },
    per_type: { User: { deleted: { absolute: 10, percent: 0 } } },
  },
  scopes: ["connection", "User", "Organization", "Site", "UserType"],
  counters: ["created", "updated", "deleted"],
};

const INFO = {
  path: "/home/hr/.local/share/idbulk/repository.db",
  schema: "Directory v1",
  version: "0.4.0",
};

function input(name: string): HTMLInputElement {
  return screen.getByLabelText(name) as HTMLInputElement;
}

function rowOf(scope: string, counter: string): HTMLElement {
  const row = document.querySelector<HTMLElement>(
    `tbody[data-scope="${scope}"] tr[data-counter="${counter}"]`,
  );
  if (!row) throw new Error(`no row for ${scope} ${counter}`);
  return row;
}

describe("Settings", () => {
  beforeEach(() => {
    settingsMock.mockReset();
    setMock.mockReset();
    infoMock.mockReset();
    infoMock.mockResolvedValue(INFO);
    theme.set("system");
  });

  it("shows a loading state, then every scope's limits and the repository", async () => {
    settingsMock.mockResolvedValueOnce(SETTINGS);
    render(Settings);
    expect(screen.getByRole("status").textContent).toContain("Reading the thresholds");

    expect(await screen.findByText("All entity types together")).toBeTruthy();
    expect(input("All entity types together, deleted: most rows").value).toBe("50");
    expect(input("All entity types together, deleted: most percent").value).toBe("2.5");
    expect(input("People, deleted: most rows").value).toBe("10");
    // A scope without stored limits is off.
    expect(input("Sites, created: most rows").value).toBe("0");
    expect(rowOf("Site", "created").textContent).toContain("Off");
    expect(rowOf("connection", "created").textContent).toContain(
      "Blocks more than 100 rows or more than 5%",
    );
    expect(document.querySelectorAll("tbody tr[data-counter]")).toHaveLength(15);

    expect(await screen.findByText(INFO.path)).toBeTruthy();
    expect(screen.getByText("Directory v1")).toBeTruthy();
    expect(screen.getByText("0.4.0")).toBeTruthy();
    expect(screen.getAllByText("IDBULK_DB").length).toBeGreaterThan(0);
  });

  it("saves one row's limit as numbers and says Saved", async () => {
    settingsMock.mockResolvedValueOnce(SETTINGS);
    setMock.mockResolvedValueOnce(undefined);
    render(Settings);
    await screen.findByText("All entity types together");

    const row = rowOf("User", "created");
    const save = within(row).getByRole("button", { name: "Save" }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);

    await fireEvent.input(input("People, created: most rows"), { target: { value: "25" } });
    await fireEvent.input(input("People, created: most percent"), { target: { value: "7.5" } });
    expect(save.disabled).toBe(false);
    await fireEvent.click(save);

    expect(setMock).toHaveBeenCalledWith("User", "created", { absolute: 25, percent: 7.5 });
    await waitFor(() => expect(row.textContent).toContain("Saved"));
    expect(row.textContent).toContain("Blocks more than 25 rows or more than 7.5%");
    expect(save.disabled).toBe(true);
  });

  it("refuses to save what is not a limit, and says why", async () => {
    settingsMock.mockResolvedValueOnce(SETTINGS);
    render(Settings);
    await screen.findByText("All entity types together");

    const row = rowOf("connection", "updated");
    await fireEvent.input(input("All entity types together, updated: most percent"), {
      target: { value: "150" },
    });
    expect(row.textContent).toContain("Percent must be between 0 and 100.");
    expect(
      (within(row).getByRole("button", { name: "Save" }) as HTMLButtonElement).disabled,
    ).toBe(true);
    expect(setMock).not.toHaveBeenCalled();
  });

  it("shows the ErrorPanel under a row whose limit was not saved", async () => {
    settingsMock.mockResolvedValueOnce(SETTINGS);
    setMock.mockRejectedValueOnce(new IpcError("busy", "The repository is locked by another program."));
    render(Settings);
    await screen.findByText("All entity types together");

    await fireEvent.input(input("Sites, deleted: most rows"), { target: { value: "3" } });
    await fireEvent.click(within(rowOf("Site", "deleted")).getByRole("button", { name: "Save" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The deleted limit of Sites was not saved");
    expect(alert.textContent).toContain("locked by another program");
    expect(setMock).toHaveBeenCalledWith("Site", "deleted", { absolute: 3, percent: 0 });
  });

  it("explains a failure to read the thresholds and tries again", async () => {
    settingsMock.mockRejectedValueOnce(new IpcError("repository", "Not an idbulk repository."));
    render(Settings);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The identity repository cannot be used");
    settingsMock.mockResolvedValueOnce(SETTINGS);
    await fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("All entity types together")).toBeTruthy();
  });

  it("chooses the theme", async () => {
    settingsMock.mockResolvedValueOnce(SETTINGS);
    render(Settings);
    const system = screen.getByRole("radio", { name: /System/ }) as HTMLInputElement;
    expect(system.checked).toBe(true);
    await fireEvent.click(screen.getByRole("radio", { name: "Dark" }));
    expect(theme.current).toBe("dark");
    expect(document.documentElement.getAttribute("data-theme")).toBe("dark");
    await fireEvent.click(screen.getByRole("radio", { name: /System/ }));
    // "System" follows what the web view reports (light in happy-dom).
    const systemTheme = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    expect(document.documentElement.getAttribute("data-theme")).toBe(systemTheme);
  });

  it("shows the backups kept and saves a new retention as a number", async () => {
    settingsMock.mockResolvedValueOnce(SETTINGS);
    infoMock.mockResolvedValueOnce(INFO);
    render(Settings);
    expect(await screen.findByText("repository-20261125T100000Z.db")).toBeTruthy();
    expect(screen.getByText("2.3 MB")).toBeTruthy();
    const input = screen.getByLabelText("Backups to keep") as HTMLInputElement;
    expect(input.value).toBe("10");
    await fireEvent.input(input, { target: { value: "3" } });
    const section = screen.getByRole("region", { name: "Backups" });
    await fireEvent.click(within(section).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(vi.mocked(setBackupKeep)).toHaveBeenCalledWith(3));
  });
});
