/**
 * Remembers the answers of `load` for `ttlMs`, and shares one lookup among concurrent callers of
 * the same key. Only answers `keep` accepts are remembered: a failure or a "not found" is asked again.
 */
export function cacheFor<V>(
  ttlMs: number,
  load: (key: string) => Promise<V>,
  options: { keep?: (value: V) => boolean; maxEntries?: number; now?: () => number } = {},
) {
  const { keep = () => true, maxEntries = 1000, now = Date.now } = options;
  const entries = new Map<string, { value: Promise<V>; until: number }>();
  const forget = (key: string, value: Promise<V>) => {
    if (entries.get(key)?.value === value) entries.delete(key);
  };
  return (key: string): Promise<V> => {
    const hit = entries.get(key);
    if (hit && hit.until > now()) return hit.value;
    const value = load(key);
    // While it runs, concurrent callers share it; once it settles, only a kept answer stays.
    entries.set(key, { value, until: Number.POSITIVE_INFINITY });
    value.then(
      (v) => (keep(v) && entries.get(key)?.value === value ? entries.set(key, { value, until: now() + ttlMs }) : forget(key, value)),
      () => forget(key, value),
    );
    if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    return value;
  };
}
