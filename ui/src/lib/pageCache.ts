/**
 * Rows of a long list fetched from Rust page by page, as the grid scrolls to them.
 *
 * The grid asks for the rows it is about to draw with {@link PageCache.get}; a row not loaded
 * yet comes back `undefined` (drawn as a placeholder) and its page is fetched once, however
 * many times it is asked for meanwhile. Only {@link PageCache.maxPages} pages are kept, the
 * least recently used dropped first, so memory stays flat whatever the list's length. A new
 * filter calls {@link PageCache.reset}: answers to requests made before it are ignored, so a
 * slow page of the old filter can never show up under the new one.
 */

/** What a page request returns: the rows and how many the list has in all. */
export interface PageResult<T> {
  total: number;
  rows: T[];
}

/** Fetches `limit` rows from `offset`. */
export type FetchPage<T> = (offset: number, limit: number) => Promise<PageResult<T>>;

export class PageCache<T> {
  /** Rows in all, once the first page has answered. */
  total: number | null = null;
  /** The last failure, if a page could not be fetched. */
  error: unknown = null;

  private pages = new Map<number, T[]>();
  private pending = new Map<number, Promise<void>>();
  private generation = 0;

  /**
   * @param fetchPage fetches one page
   * @param onChange called when pages arrive (the grid redraws)
   * @param pageSize rows per page
   * @param maxPages pages kept at most
   */
  constructor(
    private fetchPage: FetchPage<T>,
    private onChange: () => void = () => {},
    readonly pageSize = 200,
    readonly maxPages = 40,
  ) {}

  /** The row at `index`, or `undefined` while its page loads (the load is started). */
  get(index: number): T | undefined {
    const page = Math.floor(index / this.pageSize);
    const rows = this.pages.get(page);
    if (rows === undefined) {
      void this.load(page);
      return undefined;
    }
    // Touch: Map keeps insertion order, so re-inserting marks the page as recently used.
    this.pages.delete(page);
    this.pages.set(page, rows);
    return rows[index - page * this.pageSize];
  }

  /** Loads the pages covering rows `start..end` (inclusive); resolves when they are in. */
  async ensure(start: number, end: number): Promise<void> {
    const first = Math.floor(Math.max(0, start) / this.pageSize);
    const last = Math.floor(Math.max(0, end) / this.pageSize);
    const loads: Promise<void>[] = [];
    for (let page = first; page <= last; page++) {
      if (!this.pages.has(page)) loads.push(this.load(page));
    }
    await Promise.all(loads);
  }

  /** Forgets every page (the filter changed); late answers to earlier requests are dropped. */
  reset() {
    this.generation++;
    this.pages.clear();
    this.pending.clear();
    this.total = null;
    this.error = null;
  }

  /** How many pages are held (for tests and diagnostics). */
  get size(): number {
    return this.pages.size;
  }

  private load(page: number): Promise<void> {
    const inFlight = this.pending.get(page);
    if (inFlight) return inFlight;
    const generation = this.generation;
    const request = this.fetchPage(page * this.pageSize, this.pageSize).then(
      (result) => {
        if (generation !== this.generation) return;
        this.pending.delete(page);
        this.total = result.total;
        this.error = null;
        this.pages.set(page, result.rows);
        while (this.pages.size > this.maxPages) {
          const oldest = this.pages.keys().next().value as number;
          this.pages.delete(oldest);
        }
        this.onChange();
      },
      (reason: unknown) => {
        if (generation !== this.generation) return;
        this.pending.delete(page);
        this.error = reason;
        this.onChange();
      },
    );
    this.pending.set(page, request);
    return request;
  }
}
