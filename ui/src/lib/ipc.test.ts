import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("@tauri-apps/api/core", () => ({ invoke: vi.fn() }));

import { invoke } from "@tauri-apps/api/core";
import { IpcError, call, repositorySummary, toIpcError } from "./ipc";

const invokeMock = vi.mocked(invoke);

async function rejection(promise: Promise<unknown>): Promise<IpcError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(IpcError);
    return e as IpcError;
  }
  throw new Error("expected the call to fail");
}

describe("call", () => {
  beforeEach(() => invokeMock.mockReset());

  it("passes the command and its arguments to invoke and returns its answer", async () => {
    invokeMock.mockResolvedValueOnce({ ok: true });
    await expect(call("some_command", { a: 1 })).resolves.toEqual({ ok: true });
    expect(invokeMock).toHaveBeenCalledWith("some_command", { a: 1 });
  });

  it("keeps the code and message of an engine error ({code, message} from Rust)", async () => {
    invokeMock.mockRejectedValueOnce({ code: "busy", message: "Another program holds it." });
    const error = await rejection(repositorySummary());
    expect(error.code).toBe("busy");
    expect(error.message).toBe("Another program holds it.");
  });

  it("treats a plain string rejection from Tauri as an internal error with that text", async () => {
    invokeMock.mockRejectedValueOnce("Command repository_summary not found");
    const error = await rejection(repositorySummary());
    expect(error.code).toBe("internal");
    expect(error.message).toBe("Command repository_summary not found");
  });

  it("turns an unknown shape into an internal error with a readable message", async () => {
    invokeMock.mockRejectedValueOnce(42);
    const error = await rejection(repositorySummary());
    expect(error.code).toBe("internal");
    expect(error.message).not.toBe("");
  });
});

describe("toIpcError", () => {
  it("maps a code this UI does not know to internal, keeping the message", () => {
    const error = toIpcError({ code: "from_the_future", message: "New kind of failure." });
    expect(error.code).toBe("internal");
    expect(error.message).toBe("New kind of failure.");
  });

  it("uses the message of a JavaScript Error", () => {
    expect(toIpcError(new TypeError("x is undefined"))).toMatchObject({
      code: "internal",
      message: "x is undefined",
    });
  });

  it("gives null and undefined a message too", () => {
    for (const reason of [null, undefined, {}]) {
      const error = toIpcError(reason);
      expect(error.code).toBe("internal");
      expect(error.message.length).toBeGreaterThan(0);
    }
  });

  it("returns an IpcError unchanged", () => {
    const original = new IpcError("not_found", "gone");
    expect(toIpcError(original)).toBe(original);
  });
});
