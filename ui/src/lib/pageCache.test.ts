import { describe, expect, it, vi } from "vitest";
import { PageCache, type PageResult } from "./pageCache";

/** A list of `total` numbered rows served in pages, recording each request. */
function source(total: number) {
  const requests: [number, number][] = [];
  const fetch = vi.fn(async (offset: number, limit: number): Promise<PageResult<number>> => {
    requests.push([offset, limit]);
    const rows = [];
    for (let i = offset; i < Math.min(total, offset + limit); i++) rows.push(i);
    return { total, rows };
  });
  return { fetch, requests };
}

/** A fetch that answers only when the test says so. */
function deferred() {
  const waiting: { offset: number; resolve: (r: PageResult<string>) => void }[] = [];
  const fetch = (offset: number) =>
    new Promise<PageResult<string>>((resolve) => waiting.push({ offset, resolve }));
  return { fetch, waiting };
}

describe("PageCache", () => {
  it("returns undefined for a row not loaded, fetches its page once, then serves it", async () => {
    const { fetch, requests } = source(1_000);
    const onChange = vi.fn();
    const cache = new PageCache(fetch, onChange, 100);

    expect(cache.get(250)).toBeUndefined();
    expect(cache.get(260)).toBeUndefined();
    await cache.ensure(250, 260);

    expect(requests).toEqual([[200, 100]]);
    expect(cache.get(250)).toBe(250);
    expect(cache.get(299)).toBe(299);
    expect(cache.total).toBe(1_000);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it("fetches every page a range spans, and only those", async () => {
    const { fetch, requests } = source(100_000);
    const cache = new PageCache(fetch, () => {}, 200);
    await cache.ensure(50_150, 50_450);
    expect(requests.map(([offset]) => offset)).toEqual([50_000, 50_200, 50_400]);
    await cache.ensure(50_150, 50_450);
    expect(requests).toHaveLength(3);
  });

  it("keeps at most maxPages pages, dropping the least recently used", async () => {
    const { fetch, requests } = source(10_000);
    const cache = new PageCache(fetch, () => {}, 10, 3);
    await cache.ensure(0, 0); // page 0
    await cache.ensure(10, 10); // page 1
    await cache.ensure(20, 20); // page 2
    cache.get(5); // page 0 is used again: page 1 is now the oldest
    await cache.ensure(30, 30); // page 3 evicts page 1
    expect(cache.size).toBe(3);
    expect(cache.get(5)).toBe(5);
    expect(cache.get(15)).toBeUndefined();
    await cache.ensure(15, 15);
    expect(requests.filter(([offset]) => offset === 10)).toHaveLength(2);
  });

  it("drops answers that arrive after a reset (a new filter)", async () => {
    const { fetch, waiting } = deferred();
    const cache = new PageCache<string>(fetch, () => {}, 10);
    cache.get(0);
    cache.reset();
    cache.get(0);
    expect(waiting).toHaveLength(2);

    waiting[1]!.resolve({ total: 1, rows: ["new filter"] });
    waiting[0]!.resolve({ total: 5, rows: ["old filter"] });
    await Promise.resolve();
    await Promise.resolve();

    expect(cache.get(0)).toBe("new filter");
    expect(cache.total).toBe(1);
  });

  it("records a failed page and tries it again on the next request", async () => {
    let fail = true;
    const fetch = vi.fn(async (offset: number) => {
      if (fail) throw new Error("gone");
      return { total: 20, rows: [offset] };
    });
    const cache = new PageCache(fetch, () => {}, 10);
    await cache.ensure(0, 0);
    expect(cache.error).toBeInstanceOf(Error);
    fail = false;
    await cache.ensure(0, 0);
    expect(cache.error).toBeNull();
    expect(cache.get(0)).toBe(0);
  });
});
