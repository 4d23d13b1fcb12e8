import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../lib/ipc", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../lib/ipc")>();
  return {
    ...actual,
    connectionSettings: vi.fn(),
    preview: vi.fn(),
    planPage: vi.fn(),
    planPosition: vi.fn(),
    synchronize: vi.fn(),
    discardPlan: vi.fn(async () => {}),
    cancelJob: vi.fn(async () => {}),
  };
});

import type { ChangeRow } from "../bindings/ChangeRow";
import type { Filter } from "../bindings/Filter";
import type { Overview } from "../bindings/Overview";
import type { Run } from "../bindings/Run";
import {
  IpcError,
  connectionSettings,
  planPage,
  planPosition,
  preview,
  synchronize,
} from "../lib/ipc";
import Synchronize from "./Synchronize.svelte";

const ops = ["create", "update", "delete"] as const;

/** 1,000 changes, served by a fake `plan_page` that applies the filter like Rust does. */
const CHANGES: ChangeRow[] = Array.from({ length: 1_000 }, (_, i) => ({
  position: i,
  entity_type: i % 10 === 0 ? "Organization" : "User",
  key: String(i).padStart(5, "0"),
  name: `Person ${i}`,
  op: ops[i % 3]!,
  source: { sheet: "User", row: i + 2 },
  fields: [{ attribute: "JobTitle", old: "Clerk", new: i % 7 === 0 ? "Nurse" : "Pilot" }],
}));

function serve(filter: Filter, offset: number, limit: number) {
  const matches = CHANGES.filter(
    (c) =>
      (filter.entity_type === null || c.entity_type === filter.entity_type) &&
      (filter.op === null || c.op === filter.op) &&
      (filter.text === "" || JSON.stringify(c).toLowerCase().includes(filter.text.toLowerCase())),
  );
  return Promise.resolve({
    total: matches.length,
    rows: matches.slice(offset, offset + limit).map((c, i) => ({ ...c, position: offset + i })),
  });
}

function overview(verdict: Overview["verdict"]): Overview {
  return {
    mode: "complete",
    file: { name: "identities.xlsx", sha256: "ab", bytes: 10 },
    base_revision: 3,
    verdict,
    summaries: [
      {
        entity_type: "User",
        in_file: true,
        stored: 900,
        created: 300,
        updated: 300,
        deleted: 300,
        unchanged: 0,
        initial_load: false,
      },
      {
        entity_type: "Organization",
        in_file: true,
        stored: 100,
        created: 34,
        updated: 33,
        deleted: 33,
        unchanged: 0,
        initial_load: false,
      },
    ],
    thresholds: {
      checks: [
        {
          scope: "connection",
          counter: "deleted",
          count: 300,
          stored: 900,
          percent: 33.3,
          limit_absolute: 100,
          limit_percent: 5,
          broken: verdict === "blocked",
        },
      ],
      initial_loads: [],
      blocked: verdict === "blocked",
    },
    changes: 1_000,
    errors: verdict === "invalid" ? 1 : 0,
    warnings: 0,
    findings:
      verdict === "invalid"
        ? [
            {
              severity: "error",
              code: "bad_email",
              sheet: "User",
              row: 42,
              column: "D",
              header: "Email",
              value: "x@",
              message: "x@ is not an e-mail address.",
              fix: "Type a whole address.",
            },
          ]
        : [],
    // As Rust sends it: the first page of the unfiltered list comes with the overview.
    first_page: { total: CHANGES.length, rows: CHANGES.slice(0, 200) },
  };
}

// happy-dom has no layout: give the grid's scroller a size, or it draws no rows
// (@tanstack/virtual-core 3.19 reads clientHeight; older releases read offsetHeight).
const sizes = { clientHeight: 440, clientWidth: 900, offsetHeight: 440, offsetWidth: 900 };
const saved = Object.fromEntries(
  Object.keys(sizes).map((k) => [k, Object.getOwnPropertyDescriptor(HTMLElement.prototype, k)]),
);
beforeAll(() => {
  for (const [k, v] of Object.entries(sizes)) {
    Object.defineProperty(HTMLElement.prototype, k, { configurable: true, get: () => v });
  }
});
afterAll(() => {
  for (const [k, d] of Object.entries(saved)) {
    if (d) Object.defineProperty(HTMLElement.prototype, k, d);
  }
});

const pageMock = vi.mocked(planPage);

beforeEach(() => {
  vi.mocked(connectionSettings).mockResolvedValue({
    complete_path: "/home/hr/identities.xlsx",
    incremental_path: "",
    csv: { encoding: null, separator: null, skip_lines: 0, entity_type: null },
  });
  vi.mocked(preview).mockReset();
  vi.mocked(synchronize).mockReset();
  pageMock.mockReset();
  pageMock.mockImplementation(serve);
});

async function previewed(verdict: Overview["verdict"]) {
  vi.mocked(preview).mockResolvedValueOnce(overview(verdict));
  render(Synchronize);
  await fireEvent.click(await screen.findByRole("button", { name: "Preview" }));
  await screen.findByRole("grid");
}

function lastFilter(): Filter {
  return pageMock.mock.calls.at(-1)![0];
}

describe("Synchronize", () => {
  it("previews the saved path and shows the counts and the first page of changes", async () => {
    await previewed("ready");
    expect(vi.mocked(preview).mock.calls[0]![0]).toBe("complete");
    expect(screen.getByText("Ready to synchronize 1,000 changes", { exact: false })).toBeTruthy();
    await waitFor(() => expect(document.querySelectorAll('[role="row"] .key').length).toBeGreaterThan(0));
    expect(document.querySelector('[role="row"] .key')?.textContent).toBe("00000");
    expect(screen.getByRole("grid").getAttribute("aria-rowcount")).toBe("1000");
    // The first page came with the overview: no round trip to Rust for it.
    expect(pageMock).not.toHaveBeenCalled();
  });

  it("asks Rust for the pages after the first one as the grid scrolls", async () => {
    await previewed("ready");
    await waitFor(() => expect(document.querySelectorAll('[role="row"] .key').length).toBeGreaterThan(0));
    const grid = screen.getByRole("grid");
    grid.scrollTop = 44 * 450;
    await fireEvent.scroll(grid);
    await waitFor(() => expect(pageMock).toHaveBeenCalled());
    expect(pageMock.mock.calls[0]!.slice(1)).toEqual([400, 200]);
  });

  it("asks Rust for rows under each filter: operation, entity type and text", async () => {
    await previewed("ready");
    await waitFor(() => expect(document.querySelectorAll('[role="row"] .key').length).toBeGreaterThan(0));

    await fireEvent.click(screen.getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(lastFilter()).toEqual({ entity_type: null, op: "delete", text: "" }));
    await waitFor(() =>
      expect(screen.getByRole("grid").getAttribute("aria-rowcount")).toBe(String(CHANGES.filter((c) => c.op === "delete").length)),
    );

    const select = screen.getByLabelText("Entity type") as HTMLSelectElement;
    select.querySelector<HTMLOptionElement>('option[value="Organization"]')!.selected = true;
    await fireEvent.change(select);
    await waitFor(() => expect(lastFilter().entity_type).toBe("Organization"));

    await fireEvent.input(screen.getByLabelText("Search the changes"), { target: { value: "nurse" } });
    await waitFor(() => expect(lastFilter()).toEqual({ entity_type: "Organization", op: "delete", text: "nurse" }));
    const expected = CHANGES.filter(
      (c) => c.entity_type === "Organization" && c.op === "delete" && c.fields[0]!.new === "Nurse",
    ).length;
    await waitFor(() => expect(screen.getByRole("grid").getAttribute("aria-rowcount")).toBe(String(expected)));
  });

  it("offers Force only once a reason is typed, and sends the reason", async () => {
    await previewed("blocked");
    expect(screen.getByText("Blocked by a safety threshold")).toBeTruthy();
    expect(document.querySelector('.gauge[data-broken="true"]')).toBeTruthy();
    const force = screen.getByRole("button", { name: "Force synchronize" }) as HTMLButtonElement;
    expect(force.disabled).toBe(true);
    expect(screen.queryByRole("button", { name: "Synchronize" })).toBeNull();

    await fireEvent.input(screen.getByLabelText("Reason for forcing"), {
      target: { value: "Yearly clean-up, approved" },
    });
    expect(force.disabled).toBe(false);
    vi.mocked(synchronize).mockResolvedValueOnce({
      id: 9,
      counts: { created: 300, updated: 300, deleted: 300 },
      force_reason: "Yearly clean-up, approved",
    } as Run);
    await fireEvent.click(force);
    expect(vi.mocked(synchronize).mock.calls[0]![0]).toBe("Yearly clean-up, approved");
    expect(await screen.findByText(/forced: Yearly clean-up, approved/)).toBeTruthy();
  });

  it("disables applying when the file has errors, and jumps to a finding's row", async () => {
    vi.mocked(planPosition).mockResolvedValueOnce(40);
    await previewed("invalid");
    expect(screen.getByText("The file has 1 error to fix", { exact: false })).toBeTruthy();
    expect((screen.getByRole("button", { name: "Synchronize" }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText("User!D42 (Email)")).toBeTruthy();

    await fireEvent.click(screen.getByRole("button", { name: "Show row" }));
    expect(vi.mocked(planPosition)).toHaveBeenCalledWith({ entity_type: null, op: null, text: "" }, "User", 42);
  });

  it("explains a file that cannot be read, by its code", async () => {
    vi.mocked(preview).mockRejectedValueOnce(new IpcError("invalid_input", "identities.xlsx is a PDF."));
    render(Synchronize);
    await fireEvent.click(await screen.findByRole("button", { name: "Preview" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The file needs fixing");
    expect(alert.textContent).toContain("identities.xlsx is a PDF.");
    expect(screen.queryByRole("grid")).toBeNull();
  });
});
