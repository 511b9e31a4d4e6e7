import { describe, expect, it } from 'vitest';
import { cacheFor } from '../../shared/azure/ttlCache.js';

describe('cacheFor', () => {
  const counting = <V>(answer: (key: string, call: number) => V | Promise<V>) => {
    const calls: string[] = [];
    return {
      calls,
      load: async (key: string) => {
        calls.push(key);
        return answer(key, calls.length);
      },
    };
  };

  it('answers a key again from memory until its time is up, then asks again', async () => {
    let clock = 0;
    const { calls, load } = counting((key, n) => `${key}#${n}`);
    const get = cacheFor(1000, load, { now: () => clock });
    expect(await get('a')).toBe('a#1');
    clock = 999;
    expect(await get('a')).toBe('a#1');
    expect(await get('b')).toBe('b#2');
    clock = 1000;
    expect(await get('a')).toBe('a#3');
    expect(calls).toEqual(['a', 'b', 'a']);
  });

  it('shares one lookup among concurrent callers of a key', async () => {
    let release!: (v: string) => void;
    const { calls, load } = counting(() => new Promise<string>((r) => (release = r)));
    const get = cacheFor(1000, load);
    const both = Promise.all([get('a'), get('a')]);
    release('x');
    expect(await both).toEqual(['x', 'x']);
    expect(calls).toEqual(['a']);
  });

  it('does not remember answers it is told not to keep, nor failures', async () => {
    const { calls, load } = counting((_key, n) => {
      if (n === 1) throw new Error('ARM is down');
      return n === 2 ? 'notFound' : 'found';
    });
    const get = cacheFor(1000, load, { keep: (v) => v === 'found' });
    await expect(get('a')).rejects.toThrow('ARM is down');
    expect(await get('a')).toBe('notFound');
    expect(await get('a')).toBe('found');
    expect(await get('a')).toBe('found');
    expect(calls).toHaveLength(3);
  });

  it('holds at most maxEntries keys, dropping the oldest', async () => {
    const { calls, load } = counting((key) => key);
    const get = cacheFor(1000, load, { maxEntries: 2 });
    for (const k of ['a', 'b', 'c', 'c', 'b', 'a']) await get(k);
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });
});
