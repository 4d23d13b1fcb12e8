import { fireEvent, render, screen } from "@testing-library/svelte";
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../lib/ipc", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../lib/ipc")>();
  return { ...actual, homeOverview: vi.fn() };
});

import type { HomeOverview } from "../bindings/HomeOverview";
import type { Run } from "../bindings/Run";
import { IpcError, homeOverview, type Summary } from "../lib/ipc";
import Home from "./Home.svelte";

const overviewMock = vi.mocked(homeOverview);
/** The mock answers the summary alone, with no run and a clean verification. */
const summaryMock = {
  mockResolvedValueOnce: (summary: Summary) => overviewMock.mockResolvedValueOnce(overview(summary)),
  mockRejectedValueOnce: (error: unknown) => overviewMock.mockRejectedValueOnce(error),
  mockReset: () => overviewMock.mockReset(),
};

function overview(summary: Summary, extra: Partial<HomeOverview> = {}): HomeOverview {
  return {
    summary,
    last_run: null,
    verification: { clean: true, errors: 0, warnings: 0, by_code: {} },
    ...extra,
  };
}

const SUMMARY: Summary = {
  path: "/home/hr/.local/share/idbulk/repository.db",
  schema: "Directory v1",
  revision: 7,
  counts: [
    ["User", 312],
    ["Organization", 24],
    ["Site", 6],
    ["UserType", 5],
  ],
};

function card(entityType: string): HTMLElement {
  const element = document.querySelector<HTMLElement>(`[data-entity-type="${entityType}"]`);
  if (!element) throw new Error(`no card for ${entityType}`);
  return element;
}

describe("Home", () => {
  beforeEach(() => summaryMock.mockReset());

  it("shows a loading state, then a card per entity type with its count", async () => {
    summaryMock.mockResolvedValueOnce(SUMMARY);
    render(Home);
    expect(screen.getByRole("status").textContent).toMatch(/Opening the identity repository/);

    expect(await screen.findByText("People")).toBeTruthy();
    expect(card("User").textContent).toContain("312");
    expect(card("Organization").textContent).toContain("Organisations");
    expect(card("Site").textContent).toContain("Sites");
    expect(card("UserType").textContent).toContain("Worker types");
    expect(screen.queryByRole("status")).toBeNull();
  });

  it("shows the path, schema and revision of the repository", async () => {
    summaryMock.mockResolvedValueOnce(SUMMARY);
    render(Home);
    expect(await screen.findByText(SUMMARY.path)).toBeTruthy();
    expect(screen.getByText("Directory v1")).toBeTruthy();
    const revision = screen.getByText("Revision").nextElementSibling;
    expect(revision?.textContent).toMatch(/^\s*7\b/);
  });

  it("names an entity type it has no label for by its own name", async () => {
    summaryMock.mockResolvedValueOnce({ ...SUMMARY, counts: [["Contractor", 3]] });
    render(Home);
    expect(await screen.findByText("Contractor")).toBeTruthy();
  });

  it("explains an unusable repository for HR staff, and tries again on request", async () => {
    summaryMock.mockRejectedValueOnce(
      new IpcError("repository", "/x/repository.db is not an idbulk repository."),
    );
    render(Home);

    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The identity repository cannot be opened");
    expect(alert.textContent).toContain("Nothing has been changed");
    expect(alert.textContent).toContain("/x/repository.db is not an idbulk repository.");

    summaryMock.mockResolvedValueOnce(SUMMARY);
    await fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("People")).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
    expect(overviewMock).toHaveBeenCalledTimes(2);
  });

  it("branches on the code, not the message", async () => {
    summaryMock.mockRejectedValueOnce(new IpcError("busy", "anything at all"));
    render(Home);
    expect((await screen.findByRole("alert")).textContent).toContain("is in use");
  });

  it("shows the verification at a glance and the last run", async () => {
    const run: Run = {
      id: 4,
      started_at: "2026-11-25T10:00:00Z",
      kind: "sync",
      mode: "complete",
      file_name: "identities-full.xlsx",
      file_sha256: "ab",
      counts: { created: 1, updated: 2, deleted: 3 },
      summaries: [],
      thresholds: {},
      force_reason: "Yearly clean-up",
      undo_of: null,
      undone_by: null,
      revision_before: 1,
      revision_after: 2,
    };
    overviewMock.mockResolvedValueOnce(
      overview(SUMMARY, {
        last_run: run,
        verification: {
          clean: false,
          errors: 0,
          warnings: 2,
          by_code: { organization_without_manager: 2 },
        },
      }),
    );
    render(Home);
    expect(await screen.findByText("2 organisations without a manager")).toBeTruthy();
    const last = (screen.getByRole("region", { name: "Last run" }).textContent ?? "").replace(/\s+/g, " ");
    expect(last).toContain("Run 4");
    expect(last).toContain("complete sync of identities-full.xlsx");
    expect(last).toContain("1 created, 2 updated, 3 deleted");
    expect(last).toContain("forced: Yearly clean-up");
  });
});
