import { describe, expect, it } from 'vitest';
import { missingLines, stepsOf } from '../support/walkthrough.js';

describe('the walkthroughs test reads pages as a newcomer does', () => {
  it('takes each sh block with the text block right after it', () => {
    const page = '```bash\nnpm start\n```\n\n```sh\necho a\n```\n\nprints\n\n```text\na\n```\n\n```sh\necho b\n```\n\n```\nnot output\n```\n';
    expect(stepsOf('p.md', page)).toEqual([
      { page: 'p.md', script: 'echo a\n', expected: ['a'] },
      { page: 'p.md', script: 'echo b\n', expected: [] },
    ]);
  });

  it.each([
    ['… stands for anything, spacing is free', ['web 0/2 0 0 …'], 'NAME  READY\nweb   0/2   0    0   3s\n', []],
    ['lines are found in order', ['b', 'a'], 'a\nb\n', ['a']],
    ['a line is not a pattern of its own', ['x.y (z)'], 'xay z\n', ['x.y (z)']],
    ['a line that is not there is missing', ['Succeeded'], 'Failed\n', ['Succeeded']],
  ])('%s', (_, expected, output, missing) => expect(missingLines(expected, output)).toEqual(missing));
});
