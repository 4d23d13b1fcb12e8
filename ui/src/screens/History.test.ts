import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../lib/ipc", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../lib/ipc")>();
  return {
    ...actual,
    historyRuns: vi.fn(),
    historyRun: vi.fn(),
    undoRun: vi.fn(),
    cancelJob: vi.fn(),
  };
});

import type { RecordedChange } from "../bindings/RecordedChange";
import type { Run } from "../bindings/Run";
import type { RunDetails } from "../bindings/RunDetails";
import { IpcError, cancelJob, historyRun, historyRuns, undoRun } from "../lib/ipc";
import { router } from "../lib/router.svelte";
import History from "./History.svelte";

const runsMock = vi.mocked(historyRuns);
const runMock = vi.mocked(historyRun);
const undoMock = vi.mocked(undoRun);
const cancelMock = vi.mocked(cancelJob);

function run(id: number, extra: Partial<Run> = {}): Run {
  return {
    id,
    started_at: "2026-11-25T09:30:00Z",
    kind: "sync",
    mode: "complete",
    file_name: "identities.xlsx",
    file_sha256: "abc",
    counts: { created: 2, updated: 3, deleted: 1 },
    summaries: [],
    thresholds: {},
    force_reason: null,
    undo_of: null,
    undone_by: null,
    revision_before: id * 2,
    revision_after: id * 2 + 1,
    ...extra,
  };
}

const RUNS: Run[] = [
  run(3, { kind: "undo", mode: "complete", file_name: null, undo_of: 1, counts: { created: 0, updated: 1, deleted: 0 } }),
  run(2, { force_reason: "Yearly clean-up of leavers, approved by HR" }),
  run(1, { undone_by: 3 }),
];

const USER_ATTRIBUTES = ["FirstName", "LastName", "JobTitle", "Manager"];

function changes(count: number, offset = 0): RecordedChange[] {
  return Array.from({ length: count }, (_, i) => ({
    entity_type: "User",
    key: String(offset + i + 1).padStart(5, "0"),
    op: "update" as const,
    before: { key: "x", values: ["Lena", "Park", "Clerk", "00003"] },
    after: { key: "x", values: ["Lena", "Park", "Payroll officer", "00003"] },
  }));
}

function details(r: Run, offset = 0, total = 3): RunDetails {
  const page: RecordedChange[] =
    total === 3
      ? [
          {
            entity_type: "User",
            key: "00012",
            op: "update",
            before: { key: "00012", values: ["Lena", "Park", "Clerk", "00003"] },
            after: { key: "00012", values: ["Lena", "Park", "Payroll officer", ""] },
          },
          {
            entity_type: "User",
            key: "00040",
            op: "create",
            before: null,
            after: { key: "00040", values: ["Tom", "Nguyen", "", ""] },
          },
          {
            entity_type: "User",
            key: "00007",
            op: "delete",
            before: { key: "00007", values: ["Old", "Timer", "Porter", ""] },
            after: null,
          },
        ]
      : changes(Math.min(100, total - offset), offset);
  return { run: r, total, changes: page, attributes: [["User", USER_ATTRIBUTES]] };
}

function rowOf(id: number): HTMLElement {
  const row = document.querySelector<HTMLElement>(`tr[data-run="${id}"]`);
  if (!row) throw new Error(`no row for run ${id}`);
  return row;
}

describe("History", () => {
  beforeEach(() => {
    runsMock.mockReset();
    runMock.mockReset();
    undoMock.mockReset();
    cancelMock.mockReset();
    router.go("history");
  });

  it("shows a loading state, then every run with its counts and notes", async () => {
    runsMock.mockResolvedValueOnce(RUNS);
    render(History);
    expect(screen.getByRole("status").textContent).toContain("Reading the history");

    expect(await screen.findByRole("link", { name: "Run 2" })).toBeTruthy();
    const forced = rowOf(2);
    expect(forced.textContent).toContain("Forced: Yearly clean-up of leavers, approved by HR");
    expect(forced.querySelector(".op-create")?.textContent).toBe("2");
    expect(forced.querySelector(".op-delete")?.classList.contains("some")).toBe(true);
    expect(rowOf(1).textContent).toContain("Undone by run 3");
    expect(rowOf(3).textContent).toContain("Undo of run 1");
    expect(rowOf(3).textContent).toContain("Undo");
    expect(rowOf(3).querySelector(".op-create")?.classList.contains("some")).toBe(false);
  });

  it("says there are no runs yet", async () => {
    runsMock.mockResolvedValueOnce([]);
    render(History);
    expect(await screen.findByText("No runs yet.")).toBeTruthy();
  });

  it("explains a failure to read the history and tries again", async () => {
    runsMock.mockRejectedValueOnce(new IpcError("repository", "The file is damaged."));
    render(History);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The identity repository cannot be used");
    runsMock.mockResolvedValueOnce(RUNS);
    await fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("link", { name: "Run 2" })).toBeTruthy();
  });

  it("shows a run's changes, only what differs for updates, from the URL", async () => {
    runsMock.mockResolvedValueOnce(RUNS);
    runMock.mockImplementation(async (id, offset) => details(RUNS.find((r) => r.id === id)!, offset));
    render(History);
    await fireEvent.click(await screen.findByRole("link", { name: "Run 2" }));
    expect(router.location.rest).toEqual(["2"]);
    expect(runMock).toHaveBeenCalledWith(2, 0, 100);

    const update = (await screen.findByText("00012")).closest("tr")!;
    expect(update.querySelectorAll("li")).toHaveLength(2);
    expect(update.textContent).toContain("Job title");
    expect(update.textContent).toContain("Clerk");
    expect(update.textContent).toContain("Payroll officer");
    expect(update.textContent).toContain("(empty)");
    expect(update.textContent).not.toContain("Lena");
    const create = screen.getByText("00040").closest("tr")!;
    expect(create.textContent).toContain("Tom");
    expect(create.querySelectorAll("li")).toHaveLength(2);
    expect(screen.getByText(/Forced past a safety threshold/)).toBeTruthy();
  });

  it("pages through a run's changes 100 at a time", async () => {
    runsMock.mockResolvedValueOnce(RUNS);
    runMock.mockImplementation(async (id, offset) => details(RUNS.find((r) => r.id === id)!, offset, 250));
    router.go("history", "2");
    render(History);
    expect(await screen.findByText("1–100 of 250")).toBeTruthy();
    await fireEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(runMock).toHaveBeenLastCalledWith(2, 100, 100);
    expect(await screen.findByText("101–200 of 250")).toBeTruthy();
  });

  it("undoes a sync after a confirmation, with progress, then says which run undid it", async () => {
    runsMock.mockResolvedValueOnce(RUNS);
    runMock.mockImplementation(async (id, offset) => details(RUNS.find((r) => r.id === id)!, offset));
    router.go("history", "2");
    render(History);

    const undoButton = await screen.findByRole("button", { name: "Undo run 2…" });
    await fireEvent.click(undoButton);
    let dialog = screen.getByRole("alertdialog", { name: "Undo run 2?" });
    expect(dialog.textContent).toContain("the sync of identities.xlsx");
    expect(dialog.textContent).toContain("the 2 rows it created are deleted");
    expect(dialog.textContent).toContain("the 1 row it deleted is restored");
    expect(document.activeElement).toBe(within(dialog).getByRole("button", { name: "Undo run 2" }));

    // Escape cancels: nothing is undone.
    await fireEvent.keyDown(window, { key: "Escape" });
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(undoMock).not.toHaveBeenCalled();

    let finish: (r: Run) => void = () => {};
    undoMock.mockImplementationOnce((_id, onProgress) => {
      onProgress({ stage: "undoing", done: 1, total: 6 });
      return new Promise<Run>((resolve) => (finish = resolve));
    });
    runsMock.mockResolvedValueOnce([
      run(4, { kind: "undo", undo_of: 2, file_name: null }),
      ...RUNS.map((r) => (r.id === 2 ? { ...r, undone_by: 4 } : r)),
    ]);
    runMock.mockImplementation(async (id, offset) =>
      details({ ...RUNS.find((r) => r.id === id)!, undone_by: 4 }, offset),
    );

    await fireEvent.click(screen.getByRole("button", { name: "Undo run 2…" }));
    dialog = screen.getByRole("alertdialog");
    await fireEvent.click(within(dialog).getByRole("button", { name: "Undo run 2" }));
    expect(undoMock).toHaveBeenCalledWith(2, expect.any(Function));
    const progress = await screen.findByRole("dialog", { name: "Undoing run 2" });
    expect(progress.textContent).toContain("1 of 6");

    finish(run(4, { kind: "undo", undo_of: 2, counts: { created: 1, updated: 3, deleted: 2 } }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(await screen.findByText("Run 4 undid run 2:")).toBeTruthy();
    await waitFor(() => expect(runsMock).toHaveBeenCalledTimes(2));
    expect(await screen.findByRole("link", { name: "Run 4" })).toBeTruthy();
    await waitFor(() => expect(screen.queryByRole("button", { name: "Undo run 2…" })).toBeNull());
  });

  it("cancels a running undo through cancelJob", async () => {
    runsMock.mockResolvedValueOnce(RUNS);
    runMock.mockImplementation(async (id, offset) => details(RUNS.find((r) => r.id === id)!, offset));
    router.go("history", "2");
    render(History);
    await fireEvent.click(await screen.findByRole("button", { name: "Undo run 2…" }));
    let fail: (e: unknown) => void = () => {};
    undoMock.mockImplementationOnce(() => new Promise<Run>((_, reject) => (fail = reject)));
    cancelMock.mockResolvedValueOnce(undefined);
    await fireEvent.click(screen.getByRole("button", { name: "Undo run 2" }));
    await fireEvent.click(await screen.findByRole("button", { name: "Cancel" }));
    expect(cancelMock).toHaveBeenCalledTimes(1);
    fail(new IpcError("cancelled", "The undo was cancelled."));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Undo cancelled");
  });

  it("shows the engine's reason when later runs touched the rows (busy)", async () => {
    runsMock.mockResolvedValueOnce(RUNS);
    runMock.mockImplementation(async (id, offset) => details(RUNS.find((r) => r.id === id)!, offset));
    router.go("history", "2");
    render(History);
    await fireEvent.click(await screen.findByRole("button", { name: "Undo run 2…" }));
    undoMock.mockRejectedValueOnce(
      new IpcError("busy", "Run 2 cannot be undone: run 3 changed User 00012 since."),
    );
    await fireEvent.click(screen.getByRole("button", { name: "Undo run 2" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The run was not undone");
    expect(alert.textContent).toContain("run 3 changed User 00012 since");
    expect(runsMock).toHaveBeenCalledTimes(1);
  });

  it("offers no Undo for an undo or a run already undone", async () => {
    runsMock.mockResolvedValueOnce(RUNS);
    runMock.mockImplementation(async (id, offset) => details(RUNS.find((r) => r.id === id)!, offset));
    router.go("history", "1");
    render(History);
    expect(await screen.findByText(/Undone by/, { selector: "p" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: /^Undo run/ })).toBeNull();
  });

  it("says so when the URL names a run that does not exist", async () => {
    runsMock.mockResolvedValueOnce(RUNS);
    runMock.mockRejectedValueOnce(new IpcError("not_found", "There is no run 99."));
    router.go("history", "99");
    render(History);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("There is no run 99");
  });
});
