import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../lib/ipc", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../lib/ipc")>();
  return {
    ...actual,
    directoryList: vi.fn(),
    directoryDepartments: vi.fn(),
    personSheet: vi.fn(),
  };
});

import type { Department } from "../bindings/Department";
import type { ListPage } from "../bindings/ListPage";
import type { ListQuery } from "../bindings/ListQuery";
import type { PersonSheet } from "../bindings/PersonSheet";
import { IpcError, directoryDepartments, directoryList, personSheet } from "../lib/ipc";
import { router } from "../lib/router.svelte";
import Directory from "./Directory.svelte";

const listMock = vi.mocked(directoryList);
const departmentsMock = vi.mocked(directoryDepartments);
const sheetMock = vi.mocked(personSheet);

const COLUMNS = [
  "FirstName",
  "LastName",
  "Email",
  "PhoneNumber",
  "UserType",
  "Organization",
  "Manager",
  "Site",
  "JobTitle",
  "ContractStartDate",
  "ContractEndDate",
];

/** A page of `total` people as the engine would answer `query`. */
function pageFor(query: ListQuery, total = 360): ListPage {
  const count = Math.max(0, Math.min(query.limit, total - query.offset));
  return {
    columns: COLUMNS,
    total,
    rows: Array.from({ length: count }, (_, i) => {
      const n = query.offset + i + 1;
      const key = String(n).padStart(5, "0");
      return {
        key,
        name: `Person ${n}`,
        cells: [
          "Person",
          String(n),
          `p${n}@example.com`,
          "",
          "Employee",
          "Finance",
          "Ada Boss",
          "Paris",
          `Job ${n}`,
          "2020-01-01",
          "",
        ],
      };
    }),
  };
}

function lastQuery(): ListQuery {
  const call = listMock.mock.calls.at(-1);
  if (!call) throw new Error("directoryList was not called");
  return call[0];
}

const SHEET: PersonSheet = {
  person: { entity_type: "User", key: "00012", name: "Lena Park" },
  attributes: [
    { attribute: "FirstName", value: "Lena", refers_to: null, dangling: false },
    { attribute: "LastName", value: "Park", refers_to: null, dangling: false },
    { attribute: "JobTitle", value: "Payroll officer", refers_to: null, dangling: false },
    {
      attribute: "Manager",
      value: "00003",
      refers_to: { entity_type: "User", key: "00003", name: "Omar Diaz" },
      dangling: false,
    },
    {
      attribute: "Organization",
      value: "FIN",
      refers_to: { entity_type: "Organization", key: "FIN", name: "Finance" },
      dangling: false,
    },
    { attribute: "Site", value: "ZZZ", refers_to: null, dangling: true },
  ],
  managers: [
    { entity_type: "User", key: "00003", name: "Omar Diaz" },
    { entity_type: "User", key: "00001", name: "Ada Boss" },
  ],
  chain_end: { kind: "top", key: "00001" },
  direct_reports: [{ entity_type: "User", key: "00020", name: "Sam Lee" }],
  manages: [],
};

const DEPARTMENTS: Department[] = [
  {
    organization: { entity_type: "Organization", key: "HQ", name: "Headquarters" },
    parent: null,
    manager: { entity_type: "User", key: "00001", name: "Ada Boss" },
    people: 12,
    problem: null,
    problem_message: null,
  },
  {
    organization: { entity_type: "Organization", key: "INN", name: "Innovation Lab" },
    parent: { entity_type: "Organization", key: "HQ", name: "Headquarters" },
    manager: null,
    people: 4,
    problem: "organization_without_manager",
    problem_message: "Organization INN (Innovation Lab) has no manager.",
  },
];

describe("Directory, people", () => {
  beforeEach(() => {
    listMock.mockReset();
    departmentsMock.mockReset();
    sheetMock.mockReset();
    router.go("directory");
    listMock.mockImplementation(async (query) => pageFor(query));
  });

  it("shows a loading state, then a page of people with the chosen columns", async () => {
    render(Directory);
    expect(screen.getByRole("status").textContent).toContain("Loading");

    expect(await screen.findByRole("link", { name: "Person 1" })).toBeTruthy();
    expect(lastQuery()).toEqual({
      entity_type: "User",
      text: "",
      sort: null,
      descending: false,
      offset: 0,
      limit: 100,
    });
    const headers = screen.getAllByRole("columnheader").map((h) => h.textContent?.trim());
    expect(headers).toEqual([
      "Name",
      "Key ▲",
      "Job title",
      "Organisation",
      "Manager",
      "Worker type",
      "Site",
    ]);
    expect(screen.getAllByRole("row")).toHaveLength(101);
    expect(screen.getByText("1–100 of 360")).toBeTruthy();
    expect(screen.getByText("Job 7")).toBeTruthy();
  });

  it("sorts by a column when its header is clicked, and reverses on a second click", async () => {
    render(Directory);
    await screen.findByRole("link", { name: "Person 1" });

    const name = screen.getByRole("button", { name: /^Name/ });
    await fireEvent.click(name);
    await waitFor(() => expect(lastQuery()).toMatchObject({ sort: "LastName", descending: false }));
    expect(name.closest("th")?.getAttribute("aria-sort")).toBe("ascending");

    await fireEvent.click(name);
    await waitFor(() => expect(lastQuery()).toMatchObject({ sort: "LastName", descending: true }));
    expect(name.closest("th")?.getAttribute("aria-sort")).toBe("descending");

    await fireEvent.click(screen.getByRole("button", { name: /^Job title/ }));
    await waitFor(() => expect(lastQuery()).toMatchObject({ sort: "JobTitle", descending: false }));
    expect(name.closest("th")?.getAttribute("aria-sort")).toBe("none");
  });

  it("searches after a short pause and goes back to the first page", async () => {
    render(Directory);
    await screen.findByRole("link", { name: "Person 1" });
    await fireEvent.click(screen.getByRole("button", { name: "Next" }));
    await waitFor(() => expect(lastQuery().offset).toBe(100));

    const calls = listMock.mock.calls.length;
    await fireEvent.input(screen.getByRole("searchbox", { name: "Search people" }), {
      target: { value: "park" },
    });
    expect(listMock.mock.calls.length).toBe(calls);
    await waitFor(() => expect(lastQuery()).toMatchObject({ text: "park", offset: 0 }));
  });

  it("pages through the people 100 at a time", async () => {
    render(Directory);
    await screen.findByRole("link", { name: "Person 1" });
    expect((screen.getByRole("button", { name: "Previous" }) as HTMLButtonElement).disabled).toBe(
      true,
    );

    await fireEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByRole("link", { name: "Person 101" })).toBeTruthy();
    expect(screen.getByText("101–200 of 360")).toBeTruthy();

    await fireEvent.click(screen.getByRole("button", { name: "Next" }));
    await fireEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("301–360 of 360")).toBeTruthy();
    expect((screen.getByRole("button", { name: "Next" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("says so when no one matches the search", async () => {
    listMock.mockImplementation(async (query) => pageFor(query, query.text ? 0 : 360));
    render(Directory);
    await screen.findByRole("link", { name: "Person 1" });
    await fireEvent.input(screen.getByRole("searchbox"), { target: { value: "nobody" } });
    expect(await screen.findByText("No one matches “nobody”.")).toBeTruthy();
    await fireEvent.click(screen.getByRole("button", { name: "Clear the search" }));
    expect(await screen.findByRole("link", { name: "Person 1" })).toBeTruthy();
  });

  it("explains a failure for HR staff and tries again", async () => {
    listMock.mockRejectedValueOnce(new IpcError("busy", "The repository is locked."));
    render(Directory);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("in use");
    expect(alert.textContent).toContain("The repository is locked.");

    await fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("link", { name: "Person 1" })).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("opens a person's sheet with their chain, and links to the people in it", async () => {
    sheetMock.mockResolvedValue(SHEET);
    render(Directory);
    await fireEvent.click(await screen.findByRole("link", { name: "Person 12" }));
    expect(router.location.rest).toEqual(["person", "00012"]);
    expect(sheetMock).toHaveBeenCalledWith("00012");

    expect(await screen.findByRole("heading", { name: /Lena Park/ })).toBeTruthy();
    expect(screen.getByText("Payroll officer")).toBeTruthy();
    expect(screen.getByText("Finance")).toBeTruthy();
    expect(screen.getByText(/ZZZ — not in the repository/)).toBeTruthy();
    const end = document.querySelector('[data-chain-end="top"]');
    expect(end?.textContent).toContain("Ada Boss");
    expect(end?.textContent).toContain("top of the hierarchy");
    expect(screen.getByRole("link", { name: "Sam Lee" })).toBeTruthy();

    sheetMock.mockResolvedValue({
      ...SHEET,
      person: { entity_type: "User", key: "00003", name: "Omar Diaz" },
      managers: [],
      chain_end: { kind: "unknown_manager", key: "00003", manager: "09999" },
    });
    await fireEvent.click(screen.getAllByRole("link", { name: "Omar Diaz" })[0]!);
    expect(router.location.rest).toEqual(["person", "00003"]);
    expect(await screen.findByRole("heading", { name: /Omar Diaz/ })).toBeTruthy();
    expect(document.querySelector('[data-chain-end="unknown_manager"]')?.textContent).toContain(
      "09999",
    );

    await fireEvent.click(screen.getByRole("button", { name: "← All people" }));
    expect(router.location.rest).toEqual([]);
    expect(await screen.findByRole("link", { name: "Person 1" })).toBeTruthy();
  });

  it("tells HR staff when no one has the key in the URL", async () => {
    sheetMock.mockRejectedValue(new IpcError("not_found", "There is no User 12. Did you mean 00012?"));
    router.go("directory", "person", "12");
    render(Directory);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Did you mean 00012?");
  });
});

describe("Directory, departments", () => {
  beforeEach(() => {
    listMock.mockReset();
    departmentsMock.mockReset();
    listMock.mockImplementation(async (query) => pageFor(query));
    router.go("directory");
  });

  it("switches tabs with the arrow keys and flags departments with a manager problem", async () => {
    departmentsMock.mockResolvedValue(DEPARTMENTS);
    render(Directory);
    const people = screen.getByRole("tab", { name: "People" });
    expect(people.getAttribute("aria-selected")).toBe("true");

    await fireEvent.keyDown(people, { key: "ArrowRight" });
    const tab = screen.getByRole("tab", { name: "Departments" });
    expect(tab.getAttribute("aria-selected")).toBe("true");
    expect(document.activeElement).toBe(tab);
    expect(router.location.rest).toEqual(["departments"]);

    expect(await screen.findByText("Innovation Lab")).toBeTruthy();
    const flagged = document.querySelector('tr[data-key="INN"]');
    expect(flagged?.classList.contains("flagged")).toBe(true);
    expect(flagged?.textContent).toContain("No manager");
    expect(flagged?.textContent).toContain("has no manager.");
    expect(screen.getAllByRole("row")).toHaveLength(3);

    await fireEvent.click(screen.getByRole("checkbox", { name: "Only departments with a problem" }));
    expect(screen.getAllByRole("row")).toHaveLength(2);
    expect(screen.queryByText("Headquarters", { selector: "th" })).toBeNull();
  });

  it("shows an error with Try again when the departments cannot be read", async () => {
    departmentsMock.mockRejectedValueOnce(new IpcError("repository", "Damaged."));
    router.go("directory", "departments");
    render(Directory);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("cannot be used");
    departmentsMock.mockResolvedValueOnce([]);
    await fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("There are no departments in the repository.")).toBeTruthy();
  });
});
