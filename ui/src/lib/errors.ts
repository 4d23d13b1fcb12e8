/** What to tell HR staff about a failed command, by its code (never by its message). */
import type { IpcError } from "./ipc";

/** A title for the failure and what the person can do; the engine's message says what. */
export function explain(error: IpcError): { title: string; advice: string } {
  switch (error.code) {
    case "invalid_input":
      return { title: "The file needs fixing", advice: "Nothing was changed." };
    case "blocked":
      return {
        title: "Stopped by a safety threshold",
        advice: "Nothing was changed. Check the changes; force them with a reason if they are intended.",
      };
    case "usage":
      return { title: "That cannot be done", advice: "" };
    case "not_found":
      return { title: "Not found", advice: "It may have been moved or deleted." };
    case "busy":
      return {
        title: "The identity repository is in use or has changed",
        advice: "Nothing was changed. Wait a moment, then try again.",
      };
    case "io":
      return {
        title: "A file could not be read or written",
        advice: "Check that the drive or folder is available and that you may use it.",
      };
    case "repository":
      return {
        title: "The identity repository cannot be used",
        advice:
          "Nothing has been changed. The file may be damaged, read-only, on a full disk, or from a newer idbulk. Contact your identity administrator.",
      };
    case "cancelled":
      return { title: "Cancelled", advice: "Nothing was changed." };
    default:
      return {
        title: "Something went wrong",
        advice: "Try again. If it keeps happening, contact your identity administrator.",
      };
  }
}
