/**
 * The only module that talks to the Rust backend.
 *
 * Every command goes through {@link call}, which turns any failure into an {@link IpcError}
 * with a `code` from a small closed set (the engine's `ErrorCode`, snake_case). The rest of the
 * UI branches on `code` only, never on message text: messages are sentences for people.
 */
import { Channel, invoke } from "@tauri-apps/api/core";

import type { BackupSettings } from "../bindings/BackupSettings";
import type { CheckReport } from "../bindings/CheckReport";
import type { ConnectionSettings } from "../bindings/ConnectionSettings";
import type { Counter } from "../bindings/Counter";
import type { Department } from "../bindings/Department";
import type { Filter } from "../bindings/Filter";
import type { HomeOverview } from "../bindings/HomeOverview";
import type { Limit } from "../bindings/Limit";
import type { ListPage } from "../bindings/ListPage";
import type { ListQuery } from "../bindings/ListQuery";
import type { Mode } from "../bindings/Mode";
import type { Overview } from "../bindings/Overview";
import type { Page } from "../bindings/Page";
import type { PersonSheet } from "../bindings/PersonSheet";
import type { Progress } from "../bindings/Progress";
import type { Report } from "../bindings/Report";
import type { ReportKind } from "../bindings/ReportKind";
import type { RepositoryInfo } from "../bindings/RepositoryInfo";
import type { RepositorySummary } from "../bindings/RepositorySummary";
import type { Run } from "../bindings/Run";
import type { RunDetails } from "../bindings/RunDetails";
import type { TemplateFormat } from "../bindings/TemplateFormat";
import type { TemplateKind } from "../bindings/TemplateKind";
import type { ThresholdSettings } from "../bindings/ThresholdSettings";
import type { Verification } from "../bindings/Verification";

// The IPC types are generated from Rust by ts-rs: `cargo test` writes ../bindings/*.ts, and
// `scripts/test` fails if they differ from the committed ones. Screens import them from there.

/** The engine's error codes (`idbulk::ErrorCode`), as they cross IPC. */
export const ERROR_CODES = [
  "usage",
  "invalid_input",
  "blocked",
  "busy",
  "not_found",
  "repository",
  "io",
  "cancelled",
  "internal",
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** A failed command: what kind (for code) and what happened (for people). */
export class IpcError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "IpcError";
    this.code = code;
  }
}

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

/**
 * Normalises whatever a rejected `invoke()` gave into an {@link IpcError}.
 *
 * - The engine's `{code, message}` keeps its code (an unknown code becomes `internal`).
 * - Tauri itself rejects with a plain string (unknown command, denied permission): the app and
 *   its UI disagree, which is a bug, so `internal`.
 * - Anything else (an `Error` thrown in JS, `undefined`) is `internal` too, with what text
 *   can be had from it.
 */
export function toIpcError(reason: unknown): IpcError {
  if (reason instanceof IpcError) return reason;
  if (typeof reason === "object" && reason !== null && "code" in reason) {
    const { code, message } = reason as { code: unknown; message?: unknown };
    const text = typeof message === "string" && message !== "" ? message : String(code);
    return new IpcError(isErrorCode(code) ? code : "internal", text);
  }
  if (typeof reason === "string" && reason !== "") return new IpcError("internal", reason);
  if (reason instanceof Error && reason.message !== "") {
    return new IpcError("internal", reason.message);
  }
  return new IpcError("internal", "The app did not answer as expected.");
}

/** Runs a backend command; rejects with an {@link IpcError} only. */
export async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (reason) {
    throw toIpcError(reason);
  }
}

/** The repository at a glance (`idbulk::store::Summary`). */
export type Summary = RepositorySummary;

/** Row counts, schema, revision and path of the repository (opens it on first use). */
export function repositorySummary(): Promise<Summary> {
  return call<Summary>("repository_summary");
}

/** Home: the summary, the last run and the verification counts. */
export function homeOverview(): Promise<HomeOverview> {
  return call<HomeOverview>("home_overview");
}

// --- Connection -------------------------------------------------------------------------

/** The saved connection settings. */
export function connectionSettings(): Promise<ConnectionSettings> {
  return call<ConnectionSettings>("connection_settings");
}

/** Checks and saves the connection settings (**Save & Close**). */
export function saveConnectionSettings(settings: ConnectionSettings): Promise<void> {
  return call<void>("save_connection_settings", { settings });
}

/** **Upload**: the native file picker; `null` when cancelled. */
export function pickUpload(): Promise<string | null> {
  return call<string | null>("pick_upload");
}

/** Writes a template where the person chooses; the files written, `null` when cancelled. */
export function downloadTemplate(
  kind: TemplateKind,
  format: TemplateFormat,
): Promise<string[] | null> {
  return call<string[] | null>("download_template", { kind, format });
}

/** **Check Connection** of one mode's path, with the settings as on screen. */
export function checkConnection(mode: Mode, settings: ConnectionSettings): Promise<CheckReport> {
  return call<CheckReport>("check_connection", { mode, settings });
}

// --- Long work: progress and cancel -----------------------------------------------------

/** Called with each progress report of a long job. */
export type OnProgress = (progress: Progress) => void;

function channel(onProgress: OnProgress): Channel<Progress> {
  const ch = new Channel<Progress>();
  ch.onmessage = onProgress;
  return ch;
}

/** Asks the running preview, sync or undo to stop (it then writes nothing). */
export function cancelJob(): Promise<void> {
  return call<void>("cancel_job");
}

// --- Synchronize ------------------------------------------------------------------------

/** Reads the mode's file and plans it; the plan stays in Rust, this is its headline. */
export function preview(mode: Mode, onProgress: OnProgress): Promise<Overview> {
  return call<Overview>("preview", { mode, onProgress: channel(onProgress) });
}

/** A page of the previewed changes under a filter. */
export function planPage(filter: Filter, offset: number, limit: number): Promise<Page> {
  return call<Page>("plan_page", { filter, offset, limit });
}

/** Where the change of a spreadsheet row sits under a filter (`null`: it makes none). */
export function planPosition(filter: Filter, sheet: string, row: number): Promise<number | null> {
  return call<number | null>("plan_position", { filter, sheet, row });
}

/** **Synchronize**: applies the previewed plan; a reason forces a blocked one. */
export function synchronize(forceReason: string | null, onProgress: OnProgress): Promise<Run> {
  return call<Run>("synchronize", { forceReason, onProgress: channel(onProgress) });
}

/** Forgets the preview. */
export function discardPlan(): Promise<void> {
  return call<void>("discard_plan");
}

// --- Directory --------------------------------------------------------------------------

/** A page of one entity type's rows, searched and sorted. */
export function directoryList(query: ListQuery): Promise<ListPage> {
  return call<ListPage>("directory_list", { query });
}

/** Every department with its manager, missing ones flagged. */
export function directoryDepartments(): Promise<Department[]> {
  return call<Department[]>("directory_departments");
}

/** A person's sheet: attributes, manager chain, direct reports. */
export function personSheet(key: string): Promise<PersonSheet> {
  return call<PersonSheet>("person_sheet", { key });
}

// --- Verify & reports -------------------------------------------------------------------

/** Every verification finding. */
export function verification(): Promise<Verification> {
  return call<Verification>("verification");
}

/** Headcount per worker type, organisation or site, before and after the last run. */
export function headcount(kind: ReportKind): Promise<Report> {
  return call<Report>("headcount", { kind });
}

/** Exports a headcount report where the person chooses; the file, `null` when cancelled. */
export function exportReport(kind: ReportKind, format: TemplateFormat): Promise<string | null> {
  return call<string | null>("export_report", { kind, format });
}

// --- History ----------------------------------------------------------------------------

/** Every run, newest first. */
export function historyRuns(): Promise<Run[]> {
  return call<Run[]>("history_runs");
}

/** A run and a page of its changes. */
export function historyRun(id: number, offset: number, limit: number): Promise<RunDetails> {
  return call<RunDetails>("history_run", { id, offset, limit });
}

/** **Undo**: reverts a run, recorded as a new run. */
export function undoRun(id: number, onProgress: OnProgress): Promise<Run> {
  return call<Run>("undo_run", { id, onProgress: channel(onProgress) });
}

// --- Settings ---------------------------------------------------------------------------

/** The thresholds in force, their scopes and counters. */
export function thresholdSettings(): Promise<ThresholdSettings> {
  return call<ThresholdSettings>("threshold_settings");
}

/** Sets one limit (0 switches a part off). */
export function setThreshold(scope: string, counter: Counter, limit: Limit): Promise<void> {
  return call<void>("set_threshold", { scope, counter, limit });
}

/** Where the repository is, its schema and the app's version. */
export function repositoryInfo(): Promise<RepositoryInfo> {
  return call<RepositoryInfo>("repository_info");
}

/** How many backups are kept before syncs, where, and which exist. */
export function backupSettings(): Promise<BackupSettings> {
  return call<BackupSettings>("backup_settings");
}

/** Sets how many backups to keep (0: no backup before syncs). */
export function setBackupKeep(keep: number): Promise<void> {
  return call<void>("set_backup_keep", { keep });
}
