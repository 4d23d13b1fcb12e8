import { fireEvent, render, screen } from "@testing-library/svelte";
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../lib/ipc", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../lib/ipc")>();
  return { ...actual, repositorySummary: vi.fn() };
});

import { IpcError, repositorySummary, type Summary } from "../lib/ipc";
import Home from "./Home.svelte";

const summaryMock = vi.mocked(repositorySummary);

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
    expect(summaryMock).toHaveBeenCalledTimes(2);
  });

  it("branches on the code, not the message", async () => {
    summaryMock.mockRejectedValueOnce(new IpcError("busy", "anything at all"));
    render(Home);
    expect((await screen.findByRole("alert")).textContent).toContain("is in use");
  });
});
