import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../lib/ipc", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../lib/ipc")>();
  return { ...actual, verification: vi.fn(), headcount: vi.fn(), exportReport: vi.fn() };
});

import type { Report } from "../bindings/Report";
import type { ReportKind } from "../bindings/ReportKind";
import type { Verification } from "../bindings/Verification";
import { IpcError, exportReport, headcount, verification } from "../lib/ipc";
import { router } from "../lib/router.svelte";
import Reports from "./Reports.svelte";

const verificationMock = vi.mocked(verification);
const headcountMock = vi.mocked(headcount);
const exportMock = vi.mocked(exportReport);

const CLEAN: Verification = {
  today: "2026-11-25",
  revision: 42,
  summary: { clean: true, errors: 0, warnings: 0, by_code: {} },
  findings: [],
  skipped: [],
};

const FOUND: Verification = {
  today: "2026-11-25",
  revision: 42,
  summary: {
    clean: false,
    errors: 1,
    warnings: 2,
    by_code: { person_without_manager: 2, dangling_reference: 1 },
  },
  findings: [
    {
      code: "person_without_manager",
      severity: "warning",
      rows: [{ entity_type: "User", key: "00031", name: "Nina Holm" }],
      attribute: "Manager",
      value: null,
      message: "User 00031 (Nina Holm) has no manager.",
      fix: "Set Manager for 00031 in the next file.",
    },
    {
      code: "person_without_manager",
      severity: "warning",
      rows: [{ entity_type: "User", key: "00032", name: "Ivo Berg" }],
      attribute: "Manager",
      value: null,
      message: "User 00032 (Ivo Berg) has no manager.",
      fix: "Set Manager for 00032 in the next file.",
    },
    {
      code: "dangling_reference",
      severity: "error",
      rows: [{ entity_type: "Organization", key: "OPS", name: "Operations" }],
      attribute: "Parent",
      value: "XYZ",
      message: "Organization OPS (Operations) has Parent XYZ, which does not exist.",
      fix: "Correct Parent of OPS, or add Organization XYZ.",
    },
  ],
  skipped: [],
};

function report(kind: ReportKind, withRun = true): Report {
  const base = {
    generated_on: "2026-11-25",
    revision: 42,
    last_run: withRun
      ? {
          id: 12,
          kind: "sync" as const,
          started_at: "2026-11-25T09:30:00Z",
          file_name: "identities.xlsx",
          undo_of: null,
        }
      : null,
  };
  if (kind === "organization") {
    return {
      ...base,
      kind,
      entity_type: "Organization",
      title: "Headcount per Organization",
      groups: [
        {
          key: "HQ",
          name: "Headquarters",
          exists: true,
          parent: null,
          depth: 0,
          rolled_up: { before: 30, after: 33, difference: 3 },
          headcount: { before: 10, after: 10, difference: 0 },
        },
        {
          key: "FIN",
          name: "Finance",
          exists: true,
          parent: "HQ",
          depth: 1,
          rolled_up: { before: 20, after: 23, difference: 3 },
          headcount: { before: 20, after: 23, difference: 3 },
        },
      ],
      total: { before: 30, after: 33, difference: 3 },
    } as Report;
  }
  if (kind === "site") {
    return {
      ...base,
      kind,
      entity_type: "Site",
      title: "Headcount per Site",
      groups: [
        { key: "PAR", name: "Paris", exists: true, headcount: { before: 25, after: 21, difference: -4 } },
        { key: null, name: "(none)", exists: false, headcount: { before: 5, after: 12, difference: 7 } },
      ],
      total: { before: 30, after: 33, difference: 3 },
    } as Report;
  }
  return {
    ...base,
    kind: "usertype",
    entity_type: "UserType",
    title: "Headcount per UserType",
    groups: [
      {
        key: "EMP",
        name: "Employee",
        exists: true,
        is_external: false,
        category: "Staff",
        headcount: { before: 28, after: 30, difference: 2 },
      },
      {
        key: "CTR",
        name: "Contractor",
        exists: true,
        is_external: true,
        category: null,
        headcount: { before: 2, after: 3, difference: 1 },
      },
    ],
    total: { before: 30, after: 33, difference: 3 },
  } as Report;
}

function rowOf(key: string): HTMLElement {
  const row = document.querySelector<HTMLElement>(`tr[data-group="${key}"]`);
  if (!row) throw new Error(`no row for ${key}`);
  return row;
}

function cells(row: HTMLElement): string[] {
  return Array.from(row.querySelectorAll("th, td")).map((c) => c.textContent?.trim() ?? "");
}

describe("Reports", () => {
  beforeEach(() => {
    verificationMock.mockReset();
    headcountMock.mockReset();
    exportMock.mockReset();
    router.go("reports");
    headcountMock.mockImplementation(async (kind) => report(kind));
  });

  it("shows loading states, then a clean headline and the worker type counts", async () => {
    verificationMock.mockResolvedValueOnce(CLEAN);
    render(Reports);
    expect(screen.getByText("Verifying the repository…")).toBeTruthy();
    expect(screen.getByText("Counting people…")).toBeTruthy();

    expect(await screen.findByRole("heading", { name: "No problems found" })).toBeTruthy();
    expect(await screen.findByText("Employee")).toBeTruthy();
    expect(headcountMock).toHaveBeenCalledWith("usertype");
    expect(cells(rowOf("EMP"))).toEqual(["Employee", "EMP", "No", "Staff", "28", "30", "+2"]);
    expect(cells(rowOf("CTR"))).toEqual(["Contractor", "CTR", "Yes", "", "2", "3", "+1"]);
    const total = document.querySelector("tfoot tr");
    expect(total && cells(total as HTMLElement)).toEqual(["Total", "", "", "", "30", "33", "+3"]);
    expect(screen.getByText(/Before = the repository before run 12/).textContent).toContain(
      "the sync of identities.xlsx",
    );
    // The chart cannot draw in happy-dom: its wrapper still summarises it.
    const chart = screen.getByRole("img");
    expect(chart.getAttribute("aria-label")).toContain("Employee: 28 before, 30 after");
  });

  it("groups the findings by check, with the fix and links to person sheets", async () => {
    verificationMock.mockResolvedValueOnce(FOUND);
    render(Reports);
    expect(await screen.findByRole("heading", { name: "1 error, 2 warnings" })).toBeTruthy();

    const people = document.querySelector<HTMLElement>('[data-code="person_without_manager"]')!;
    expect(people.querySelector("summary")?.textContent).toContain("People without a manager");
    expect(people.querySelector(".count")?.textContent).toBe("2");
    expect(within(people).getByText("User 00031 (Nina Holm) has no manager.")).toBeTruthy();
    expect(within(people).getByText(/Set Manager for 00031/)).toBeTruthy();

    const dangling = document.querySelector<HTMLElement>('[data-code="dangling_reference"]')!;
    expect(dangling.querySelector(".sev")?.textContent).toBe("Error");
    expect(within(dangling).getByText(/Correct Parent of OPS/)).toBeTruthy();
    // Errors come first.
    expect(document.querySelector("details")?.dataset.code).toBe("dangling_reference");
    expect(within(dangling).queryByRole("link")).toBeNull();

    await fireEvent.click(within(people).getByRole("link", { name: "Nina Holm" }));
    expect(router.location).toEqual({ screen: "directory", rest: ["person", "00031"] });
  });

  it("switches the report kind, with rolled-up counts for organisations", async () => {
    verificationMock.mockResolvedValueOnce(CLEAN);
    render(Reports);
    await screen.findByText("Employee");

    await fireEvent.click(screen.getByRole("radio", { name: "Organisation" }));
    expect(headcountMock).toHaveBeenLastCalledWith("organization");
    expect(await screen.findByText("Finance")).toBeTruthy();
    expect(cells(rowOf("FIN"))).toEqual(["Finance", "FIN", "20", "23", "+3", "20", "23", "+3"]);
    expect(cells(rowOf("HQ"))).toEqual(["Headquarters", "HQ", "10", "10", "0", "30", "33", "+3"]);

    await fireEvent.click(screen.getByRole("radio", { name: "Site" }));
    expect(headcountMock).toHaveBeenLastCalledWith("site");
    expect(await screen.findByText("Paris")).toBeTruthy();
    expect(cells(rowOf("PAR"))).toEqual(["Paris", "PAR", "25", "21", "−4"]);
    expect(cells(rowOf(""))[0]).toBe("No site given");
  });

  it("says the comparison comes after the first synchronization when there is no run", async () => {
    verificationMock.mockResolvedValueOnce(CLEAN);
    headcountMock.mockImplementation(async (kind) => report(kind, false));
    render(Reports);
    expect(
      await screen.findByText(/the before\/after comparison appears after the\s+first one/),
    ).toBeTruthy();
    expect(cells(rowOf("EMP"))).toEqual(["Employee", "EMP", "No", "Staff", "30"]);
  });

  it("exports the report and says where it was saved; nothing when cancelled", async () => {
    verificationMock.mockResolvedValueOnce(CLEAN);
    render(Reports);
    await screen.findByText("Employee");
    await fireEvent.click(screen.getByRole("radio", { name: "Site" }));
    await screen.findByText("Paris");

    exportMock.mockResolvedValueOnce("/home/hr/Documents/headcount-site.xlsx");
    await fireEvent.click(screen.getByRole("button", { name: "Export .xlsx" }));
    expect(exportMock).toHaveBeenCalledWith("site", "xlsx");
    await waitFor(() =>
      expect(document.querySelector(".export-status")?.textContent).toContain(
        "Saved to /home/hr/Documents/headcount-site.xlsx",
      ),
    );

    exportMock.mockResolvedValueOnce(null);
    await fireEvent.click(screen.getByRole("button", { name: "Export .csv" }));
    expect(exportMock).toHaveBeenLastCalledWith("site", "csv");
    await waitFor(() => expect(document.querySelector(".export-status")?.textContent?.trim()).toBe(""));

    exportMock.mockRejectedValueOnce(new IpcError("io", "Permission denied: /mnt/share/x.csv"));
    await fireEvent.click(screen.getByRole("button", { name: "Export .csv" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The report was not exported");
    expect(alert.textContent).toContain("Permission denied");
  });

  it("shows an ErrorPanel with Try again when verification fails", async () => {
    verificationMock.mockRejectedValueOnce(new IpcError("repository", "Not an idbulk file."));
    render(Reports);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The identity repository cannot be used");
    verificationMock.mockResolvedValueOnce(CLEAN);
    await fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("heading", { name: "No problems found" })).toBeTruthy();
  });

  it("shows an ErrorPanel when a report cannot be made", async () => {
    verificationMock.mockResolvedValueOnce(CLEAN);
    headcountMock.mockReset();
    headcountMock.mockRejectedValueOnce(
      new IpcError("usage", "This repository's schema does not declare the roles a usertype report needs."),
    );
    render(Reports);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("That cannot be done");
    expect(alert.textContent).toContain("does not declare the roles");
  });
});
