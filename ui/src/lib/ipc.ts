/**
 * The only module that talks to the Rust backend.
 *
 * Every command goes through {@link call}, which turns any failure into an {@link IpcError}
 * with a `code` from a small closed set (the engine's `ErrorCode`, snake_case). The rest of the
 * UI branches on `code` only, never on message text: messages are sentences for people.
 */
import { invoke } from "@tauri-apps/api/core";

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
export interface Summary {
  /** Where the repository file is. */
  path: string;
  /** Name and version of the schema, e.g. `Directory v1`. */
  schema: string;
  /** Bumped by every write. */
  revision: number;
  /** `[entity type, row count]` in schema order. */
  counts: [string, number][];
}

/** Row counts, schema, revision and path of the repository (opens it on first use). */
export function repositorySummary(): Promise<Summary> {
  return call<Summary>("repository_summary");
}
