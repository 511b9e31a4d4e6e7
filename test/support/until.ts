/** Polls until `check` returns a value (not undefined/false), or fails after `within` ms. */
export async function until<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { within: number; every?: number; what?: string },
): Promise<T> {
  const deadline = Date.now() + opts.within;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.within} ms waiting for ${opts.what ?? 'a condition'}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.every ?? 50));
  }
}
