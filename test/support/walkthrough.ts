// Reading the README and the walkthroughs as test/e2e/walkthroughs.test.ts runs them: their ```sh
// steps, and the lines each says it prints.

export const pages = [
  'README.md',
  'docs/walkthrough-hub.md',
  'docs/walkthrough-identity.md',
  'docs/walkthrough-placements.md',
  'docs/walkthrough-load-balancing.md',
];

interface Step {
  page: string;
  script: string;
  expected: string[];
}

/** The ```sh blocks of a page, each with the lines of the ```text block right after it (if any). */
export function stepsOf(page: string, text: string): Step[] {
  const blocks = [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], body: m[2] }));
  const steps: Step[] = [];
  blocks.forEach((b, i) => {
    if (b.lang !== 'sh') return;
    const next = blocks[i + 1];
    steps.push({ page, script: b.body, expected: next?.lang === 'text' ? next.body.split('\n').filter((l) => l.trim()) : [] });
  });
  return steps;
}

/** A quoted line as a pattern: `…` is anything, a run of spaces any run of spaces. */
export function linePattern(line: string): RegExp {
  const parts = line
    .trim()
    .split(/\s*…\s*/)
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+'));
  return new RegExp(parts.join('.*?'));
}

/** The quoted lines not found in `output`, in order (each after the one before it). */
export function missingLines(expected: string[], output: string): string[] {
  const lines = output.split('\n');
  const missing: string[] = [];
  let at = 0;
  for (const e of expected) {
    const re = linePattern(e);
    const found = lines.findIndex((l, i) => i >= at && re.test(l));
    if (found < 0) missing.push(e);
    else at = found + 1;
  }
  return missing;
}
