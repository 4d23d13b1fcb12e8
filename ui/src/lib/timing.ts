/**
 * Performance marks of the preview, read by the preview benchmark in the real web view
 * (`scripts/bench-preview`; issue 6 asks for the first rows of a 100,000-change preview on
 * screen within 300 ms of the plan being ready). Marks cost nothing when nobody reads them.
 */

/** The preview's overview arrived: the plan is built and held by Rust. */
export const PLAN_READY = "idbulk:plan-ready";

/** The diff grid's first rows were painted after the last {@link PLAN_READY}. */
export const FIRST_ROWS = "idbulk:first-rows";

/** Marks a new plan; the next painted rows are its first. */
export function markPlanReady(): void {
  performance.clearMarks(PLAN_READY);
  performance.clearMarks(FIRST_ROWS);
  performance.mark(PLAN_READY);
}

/**
 * Marks the first rows of the current plan as painted, once: the mark is set after the next
 * frame, when the rows already in the DOM have been drawn. Later calls, and calls before any
 * plan, do nothing.
 */
export function markFirstRowsPainted(nextFrame: (then: () => void) => void = afterPaint): void {
  if (performance.getEntriesByName(PLAN_READY).length === 0) return;
  if (performance.getEntriesByName(FIRST_ROWS).length > 0 || pending) return;
  pending = true;
  nextFrame(() => {
    pending = false;
    if (performance.getEntriesByName(FIRST_ROWS).length === 0) performance.mark(FIRST_ROWS);
  });
}

let pending = false;

/** Calls `then` once the next frame has been painted (a frame callback runs before paint). */
function afterPaint(then: () => void): void {
  requestAnimationFrame(() => setTimeout(then, 0));
}
