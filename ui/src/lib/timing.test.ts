import { beforeEach, describe, expect, it } from "vitest";
import { FIRST_ROWS, PLAN_READY, markFirstRowsPainted, markPlanReady } from "./timing";

const marks = (name: string) => performance.getEntriesByName(name).length;

describe("preview timing marks", () => {
  beforeEach(() => {
    performance.clearMarks();
  });

  it("marks the first rows once per plan, after the frame", () => {
    const frames: (() => void)[] = [];
    const nextFrame = (then: () => void) => frames.push(then);
    markFirstRowsPainted(nextFrame);
    expect(frames).toHaveLength(0); // no plan yet: nothing to time

    markPlanReady();
    markFirstRowsPainted(nextFrame);
    markFirstRowsPainted(nextFrame); // rows arriving again before the frame: one mark
    expect(frames).toHaveLength(1);
    expect(marks(FIRST_ROWS)).toBe(0); // not before the frame is drawn
    frames[0]!();
    expect(marks(FIRST_ROWS)).toBe(1);
    markFirstRowsPainted(nextFrame); // later pages of the same plan are not its first rows
    expect(frames).toHaveLength(1);

    markPlanReady(); // a new preview starts the clock again
    expect(marks(PLAN_READY)).toBe(1);
    expect(marks(FIRST_ROWS)).toBe(0);
    markFirstRowsPainted(nextFrame);
    frames[1]!();
    const [ready] = performance.getEntriesByName(PLAN_READY);
    const [first] = performance.getEntriesByName(FIRST_ROWS);
    expect(first!.startTime).toBeGreaterThanOrEqual(ready!.startTime);
  });
});
